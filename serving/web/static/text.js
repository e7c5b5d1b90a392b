/*
 * Shared by the patient web chat, the dentist's page and the staff dashboard: building nodes
 * from text, only ever with textContent (never as HTML), with numbers and line breaks shown
 * right in both languages; the clinic's times in the page's language; the page language kept in
 * the URL. Loaded before each page's own script; exposes `window.DentalText`.
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

  var WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?/;

  /*
   * The clinic's wall-clock time as written in the ISO string (its offset is the clinic's), so
   * the browser's own time zone never shifts it; text that is no date comes back unchanged.
   */
  function formatWallClock(iso, options, language) {
    var parts = WALL_CLOCK.exec(String(iso || ""));
    if (!parts) {
      return String(iso || "");
    }
    var when = new Date(Date.UTC(+parts[1], +parts[2] - 1, +parts[3], +(parts[4] || 0),
      +(parts[5] || 0)));
    options.timeZone = "UTC";
    try {
      return new Intl.DateTimeFormat(language === "he" ? "he-IL" : "en-GB", options)
        .format(when);
    } catch (error) {
      return String(iso).slice(0, 16).replace("T", " ");
    }
  }

  function formatDateTime(iso, language) {
    return formatWallClock(iso, {
      weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }, language);
  }

  function formatClock(iso, language) {
    return formatWallClock(iso, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
      language);
  }

  /* In the URL, so a reload keeps it; the history entry is replaced, nothing is sent anywhere. */
  function keepLanguageInUrl(language) {
    try {
      var url = new URL(window.location.href);
      url.searchParams.set("lang", language);
      window.history.replaceState(null, "", url.pathname + url.search);
    } catch (error) {
      // An old browser keeps the choice until the page is reloaded.
    }
  }

  window.DentalText = {
    relabel: relabel,
    element: element,
    appendWithIsolatedNumbers: appendWithIsolatedNumbers,
    fillText: fillText,
    formatWallClock: formatWallClock,
    formatDateTime: formatDateTime,
    formatClock: formatClock,
    keepLanguageInUrl: keepLanguageInUrl
  };
})();
