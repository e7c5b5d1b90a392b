/*
 * The patient's own-data page (/my-data#<token>): reads the private link's token from the
 * fragment (never sent to the server with the page), then shows what the assistant remembers,
 * offers the full copy as a download and erasure after a confirmation. Every text is set with
 * textContent (DentalText); the token goes only in the Authorization header of same-origin
 * calls.
 */
(function () {
  "use strict";

  var Text = window.DentalText;
  var root = document.getElementById("my-data");
  var labels = JSON.parse(document.getElementById("page-text").textContent);
  var language = root.dataset.language;
  var token = window.location.hash.replace(/^#/, "");
  var status = document.getElementById("status");
  var validUntil = document.getElementById("valid-until");
  var state = { link: null, memory: null, receipt: null, statusKey: "loading" };

  function t(key) {
    return (labels[language] && labels[language][key]) || labels.en[key] || key;
  }

  function filled(key, values) {
    return t(key).replace(/\{([a-z_]+)\}/g, function (match, name) {
      return values[name] === undefined ? match : String(values[name]);
    });
  }

  function call(method, url) {
    return fetch(url, {
      method: method,
      headers: { Authorization: "Bearer " + token, Accept: "application/json" },
      credentials: "omit",
      cache: "no-store"
    });
  }

  function showStatus(key, error) {
    state.statusKey = key;
    status.hidden = !key;
    status.textContent = key ? t(key) : "";
    status.classList.toggle("my-data__status--error", Boolean(error));
  }

  function failed(response) {
    if (!response) {
      showStatus("error_network", true);
    } else if (response.status === 401 || response.status === 403) {
      showStatus("link_refused", true);
    } else {
      showStatus("unavailable", true);
    }
    ["remembered", "export", "erase"].forEach(function (id) {
      document.getElementById(id).hidden = true;
    });
  }

  function when(iso) {
    return iso ? Text.formatDateTime(iso, language) : "—";
  }

  function fact(list, key, value) {
    list.appendChild(Text.element("dt", null, t(key)));
    var detail = Text.element("dd", null, value === null || value === undefined || value === ""
      ? "—" : String(value));
    detail.dir = "auto";
    list.appendChild(detail);
  }

  function fillList(list, items) {
    list.textContent = "";
    if (!items.length) {
      list.appendChild(Text.element("li", "muted", t("nothing_yet")));
      return;
    }
    items.forEach(function (text) {
      var item = Text.element("li", null, text);
      item.dir = "auto";
      list.appendChild(item);
    });
  }

  function renderMemory() {
    var memory = state.memory;
    if (!memory) {
      return;
    }
    var facts = document.getElementById("facts");
    facts.textContent = "";
    fact(facts, "conversations", memory.conversations);
    fact(facts, "last_seen", memory.last_seen ? when(memory.last_seen) : null);
    fact(facts, "language", memory.language);
    fact(facts, "usual_dentist", memory.usual_dentist);
    fact(facts, "usual_time", memory.usual_part_of_day ? t("part_" + memory.usual_part_of_day)
      : null);
    fact(facts, "open_escalations", memory.open_escalations.length);
    fillList(document.getElementById("outcomes"), memory.recent_outcomes.map(function (o) {
      var parts = [t("outcome_" + o.kind), when(o.visit_at || o.at)];
      if (o.dentist) {
        parts.push(o.dentist);
      }
      return parts.join(" · ");
    }));
    fillList(document.getElementById("patterns"), Object.keys(memory.patterns).map(function (name) {
      return name + ": " + memory.patterns[name];
    }));
    ["remembered", "export", "erase"].forEach(function (id) {
      document.getElementById(id).hidden = Boolean(state.receipt);
    });
  }

  function renderLink() {
    validUntil.hidden = !state.link || Boolean(state.receipt);
    if (state.link) {
      validUntil.textContent = filled("valid_until", { time: when(state.link.expires_at) });
    }
  }

  function renderReceipt() {
    var receipt = state.receipt;
    document.getElementById("receipt").hidden = !receipt;
    if (!receipt) {
      return;
    }
    var rows = Object.keys(receipt.counts.app).reduce(function (sum, table) {
      return sum + receipt.counts.app[table];
    }, 0);
    document.getElementById("receipt-text").textContent = filled("erased_text", {
      id: receipt.id, time: when(receipt.erased_at), rows: rows, nodes: receipt.counts.memory.nodes
    });
    fillList(document.getElementById("kept"), receipt.kept.map(function (item) {
      return t("kept_" + item.what);
    }));
  }

  function render() {
    Text.relabel(language, t);
    if (state.statusKey) {
      showStatus(state.statusKey, status.classList.contains("my-data__status--error"));
    }
    renderLink();
    renderMemory();
    renderReceipt();
  }

  function load() {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) {
      showStatus("no_link", true);
      return;
    }
    var response = null;
    call("GET", root.dataset.linkUrl)
      .then(function (received) {
        response = received;
        if (!received.ok) {
          throw new Error("link");
        }
        return received.json();
      })
      .then(function (link) {
        state.link = link;
        return call("GET", root.dataset.memoryUrl + "/" + link.patient_id).then(function (got) {
          response = got;
          if (!got.ok) {
            throw new Error("memory");
          }
          return got.json();
        });
      })
      .then(function (memory) {
        state.memory = memory;
        showStatus("", false);
        render();
      })
      .catch(function () {
        failed(response);
      });
  }

  function download() {
    call("GET", root.dataset.memoryUrl + "/" + state.link.patient_id + "/export")
      .then(function (response) {
        if (!response.ok) {
          failed(response);
          return null;
        }
        return response.blob();
      })
      .then(function (blob) {
        if (!blob) {
          return;
        }
        var anchor = document.createElement("a");
        anchor.href = URL.createObjectURL(blob);
        anchor.download = "my-data.json";
        document.body.appendChild(anchor);
        anchor.click();
        window.setTimeout(function () {
          URL.revokeObjectURL(anchor.href);
          anchor.remove();
        }, 1000);
      })
      .catch(function () {
        failed(null);
      });
  }

  function erase() {
    if (!window.confirm(t("erase_confirm"))) {
      return;
    }
    var button = document.getElementById("erase-button");
    button.disabled = true;
    call("DELETE", root.dataset.memoryUrl + "/" + state.link.patient_id)
      .then(function (response) {
        if (!response.ok) {
          failed(response);
          return null;
        }
        return response.json();
      })
      .then(function (receipt) {
        if (receipt) {
          state.receipt = receipt;
          render();
        }
      })
      .catch(function () {
        failed(null);
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  document.getElementById("language-toggle").addEventListener("click", function () {
    language = language === "he" ? "en" : "he";
    try {  // as DentalText.keepLanguageInUrl, keeping the fragment (the token)
      var url = new URL(window.location.href);
      url.searchParams.set("lang", language);
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    } catch (error) {
      // An old browser keeps the choice until the page is reloaded.
    }
    render();
  });
  document.getElementById("export-button").addEventListener("click", download);
  document.getElementById("erase-button").addEventListener("click", erase);

  load();
  root.dataset.ready = "true";
})();
