/*
 * Shared by the patient web chat and the dentist's page: building nodes from text, only ever
 * with textContent (never as HTML), with numbers and line breaks shown right in both languages.
 * Loaded before each page's own script; exposes `window.DentalText`.
 */
(function () {
  "use strict";

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  /*
   * Phone numbers and other long digit runs, kept left-to-right: inside Hebrew text the bidi
   * algorithm would otherwise show "+972 3 555 0100" as "0100 555 3 972+".
   */
  var LONG_NUMBER = /\+?\d(?:[\d .-]*\d)?/g;
  var MIN_ISOLATED_DIGITS = 7;

  function appendWithIsolatedNumbers(container, text) {
    var done = 0;
    function appendPlain(until) {
      if (until > done) {
        container.appendChild(document.createTextNode(text.slice(done, until)));
      }
    }
    text.replace(LONG_NUMBER, function (match, offset) {
      if ((match.match(/\d/g) || []).length >= MIN_ISOLATED_DIGITS) {
        appendPlain(offset);
        var number = element("bdi", "number", match);
        number.dir = "ltr";
        container.appendChild(number);
        done = offset + match.length;
      }
      return match;
    });
    appendPlain(text.length);
  }

  /* One paragraph per line, each with dir="auto" so a line in either language reads right. */
  function fillText(container, text) {
    var gap = false;
    String(text).split(/\r?\n/).forEach(function (line) {
      if (!line.trim()) {
        gap = container.childElementCount > 0;
        return;
      }
      var paragraph = element("p", gap ? "bubble__line bubble__line--gap" : "bubble__line");
      paragraph.dir = "auto";
      appendWithIsolatedNumbers(paragraph, line);
      container.appendChild(paragraph);
      gap = false;
    });
  }

  /* The page's own labels in `language`: <html> lang and direction, and every element naming
   * a label key in data-text, data-placeholder, data-label (aria-label) or data-title. */
  function relabel(language, translate) {
    var html = document.documentElement;
    html.lang = language;
    html.dir = language === "he" ? "rtl" : "ltr";
    var targets = [
      ["text", function (node, value) { node.textContent = value; }],
      ["placeholder", function (node, value) { node.placeholder = value; }],
      ["label", function (node, value) { node.setAttribute("aria-label", value); }],
      ["title", function (node, value) { node.title = value; }]
    ];
    targets.forEach(function (target) {
      var attribute = "data-" + target[0];
      Array.prototype.forEach.call(document.querySelectorAll("[" + attribute + "]"), function (node) {
        target[1](node, translate(node.getAttribute(attribute)));
      });
    });
  }

  window.DentalText = {
    relabel: relabel,
    element: element,
    appendWithIsolatedNumbers: appendWithIsolatedNumbers,
    fillText: fillText
  };
})();
