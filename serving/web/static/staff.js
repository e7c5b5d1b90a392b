/*
 * The staff dashboard (/staff): chrome around /api/v1/admin/* (data-api-root) and sign-in
 * through /api/v1/auth/*. The HTML carries no patient data; everything loads after sign-in.
 * This script holds the session, the API calls, the live stream, the menu and the helpers the
 * sections share (window.StaffDesk); each section is in its own staff_*.js, loaded after it.
 *
 * - The access token lives in this script's memory only (never in storage): a reload signs
 *   back in through the refresh cookie (HttpOnly, sent only to /api/v1/auth), which is also
 *   used shortly before the token expires and whenever the API answers 401.
 * - The menu shows the sections the role's permissions (/api/v1/auth/me) allow.
 * - Live updates come from /api/v1/admin/events, read with fetch streaming (EventSource cannot
 *   send the bearer header); the page reconnects with a growing delay when it drops.
 * - Text from patients, staff or the API is only ever set with textContent.
 */
(function () {
  "use strict";

  var element = window.DentalText.element;
  var fillText = window.DentalText.fillText;

  var LANGUAGES = ["he", "en"];
  var REFRESH_MARGIN_S = 30;
  var FIRST_RETRY_MS = 1000;
  var LONGEST_RETRY_MS = 15000;
  var SEARCH_DELAY_MS = 300;

  var root = document.getElementById("staff");
  var labels = JSON.parse(document.getElementById("page-text").textContent);
  var apiRoot = root.dataset.apiRoot;
  var AUTH_ROOT = root.dataset.authRoot;
  var uiLanguage = root.dataset.language;

  var byId = function (id) {
    return document.getElementById(id);
  };
  var loading = byId("loading");
  var signInForm = byId("sign-in");
  var signInError = byId("sign-in-error");
  var desk = byId("desk");
  var userName = byId("user-name");
  var signOutButton = byId("sign-out");
  var languageToggle = byId("language-toggle");
  var streamStatus = byId("stream-status");
  var pageError = byId("page-error");
  var escalationCount = byId("escalation-count");

  var session = { token: null, me: null, refreshTimer: null, refreshing: null };
  var stream = { controller: null, retryTimer: null, delay: FIRST_RETRY_MS };
  var current = null;
  /* The sections, by id: each registered by its own script (staff_*.js) before start. */
  var sections = {};

  // ---- labels, language, times ----

  function t(key) {
    return (labels[uiLanguage] || labels.en)[key];
  }

  function fill(template, values) {
    return template.replace(/\{([a-z_]+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function labelled(tag, className, key) {
    var node = element(tag, className, t(key));
    node.setAttribute("data-text", key);
    return node;
  }

  function applyUiLanguage(language) {
    uiLanguage = language;
    window.DentalText.relabel(language, t);
    languageToggle.lang = language === "he" ? "en" : "he";
    if (session.me) {
      userName.textContent = fill(t("signed_in_as"), { name: session.me.name });
    }
    Object.keys(sections).forEach(function (id) {
      if (sections[id].built) {
        sections[id].paint();
      }
    });
  }

  function toggleUiLanguage() {
    var next = LANGUAGES[(LANGUAGES.indexOf(uiLanguage) + 1) % LANGUAGES.length];
    applyUiLanguage(next);
    window.DentalText.keepLanguageInUrl(next);
  }

  function formatWith(iso, options) {
    return window.DentalText.formatWallClock(iso, options, uiLanguage);
  }

  function formatDateTime(iso) {
    return window.DentalText.formatDateTime(iso, uiLanguage);
  }

  function formatClock(iso) {
    return window.DentalText.formatClock(iso, uiLanguage);
  }

  function formatDay(iso) {
    return formatWith(iso, { weekday: "long", day: "numeric", month: "long" });
  }

  function isoDate(date) {
    var pad = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
  }

  function addDays(isoDay, days) {
    var parts = isoDay.split("-");
    return isoDate(new Date(+parts[0], +parts[1] - 1, +parts[2] + days));
  }

  function personName(person) {
    if (!person) {
      return t("unidentified_patient");
    }
    return (uiLanguage === "he" && person.name_he) || person.name || t("unidentified_patient");
  }

  // ---- talking to the server ----

  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function errorText(error) {
    if (error instanceof ApiError) {
      return error.status === 0 ? t("error_network") : error.message || t("error_server");
    }
    return t("error_server");
  }

  function headers(body) {
    var result = { Accept: "application/json" };
    if (session.token) {
      result.Authorization = "Bearer " + session.token;
    }
    if (body !== undefined) {
      result["Content-Type"] = "application/json";
    }
    return result;
  }

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      headers: headers(body),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store"
    }).catch(function () {
      throw new ApiError(0, "network", t("error_network"));
    }).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response.json().catch(function () {
        return null;
      }).then(function (data) {
        if (!response.ok) {
          throw new ApiError(response.status, data && data.error,
            data && typeof data.message === "string" ? data.message : t("error_server"));
        }
        return data;
      });
    });
  }

  /* A call to the admin API; a 401 refreshes the token once and tries again. */
  function api(method, path, body) {
    return send(method, apiRoot + path, body).catch(function (error) {
      if (!(error instanceof ApiError) || error.status !== 401) {
        throw error;
      }
      return refreshSession().then(function (ok) {
        if (!ok) {
          throw error;
        }
        return send(method, apiRoot + path, body);
      });
    });
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (name) {
      var value = params[name];
      if (value !== undefined && value !== null && value !== "") {
        parts.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
      }
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  /*
   * A wrapper for requests whose answers may arrive out of order (a search typed on, a week
   * paged on): only the newest request's answer or error is passed on; older ones never settle.
   */
  function newestOnly() {
    var latest = 0;
    return function (request) {
      var mine = ++latest;
      return new Promise(function (resolve, reject) {
        request.then(function (data) {
          if (mine === latest) {
            resolve(data);
          }
        }, function (error) {
          if (mine === latest) {
            reject(error);
          }
        });
      });
    };
  }

  function itemsOf(data) {
    return Array.isArray(data) ? data : (data && data.items) || [];
  }

  // ---- the session ----

  function scheduleRefresh(seconds) {
    window.clearTimeout(session.refreshTimer);
    var wait = Math.max(5, seconds - REFRESH_MARGIN_S) * 1000;
    session.refreshTimer = window.setTimeout(refreshSession, wait);
  }

  function acceptTokens(tokens) {
    session.token = tokens.access_token;
    scheduleRefresh(tokens.expires_in);
  }

  /* New tokens from the refresh cookie; false when there is no session to continue. */
  function refreshSession() {
    if (!session.refreshing) {
      session.refreshing = send("POST", AUTH_ROOT + "/refresh").then(function (tokens) {
        acceptTokens(tokens);
        return true;
      }, function (error) {
        if (error instanceof ApiError && error.status === 401 && session.me) {
          endSession(t("session_ended"));
        }
        return false;
      }).then(function (ok) {
        session.refreshing = null;
        return ok;
      });
    }
    return session.refreshing;
  }

  function showOnly(visible) {
    loading.hidden = visible !== loading;
    signInForm.hidden = visible !== signInForm;
    desk.hidden = visible !== desk;
  }

  function showSignIn(message) {
    showOnly(signInForm);
    signInError.hidden = !message;
    signInError.textContent = message || "";
    byId("sign-in-email").focus();
  }

  function may(permission) {
    return !!session.me && session.me.permissions.indexOf(permission) >= 0;
  }

  function startDesk() {
    return send("GET", AUTH_ROOT + "/me").then(function (me) {
      session.me = me;
      userName.textContent = fill(t("signed_in_as"), { name: me.name });
      userName.hidden = false;
      signOutButton.hidden = false;
      var first = null;
      Array.prototype.forEach.call(document.querySelectorAll(".menu__item"), function (item) {
        item.hidden = !may(item.dataset.permission);
        if (!item.hidden && first === null) {
          first = item.dataset.section;
        }
      });
      showOnly(desk);
      openStream();
      if (may("escalations.view")) {
        sections.escalations.load();
      }
      var wanted = window.location.hash.replace("#", "");
      var item = byId("menu-" + wanted);
      showSection(item && !item.hidden ? wanted : first);
    });
  }

  function endSession(message) {
    window.clearTimeout(session.refreshTimer);
    session.token = null;
    session.me = null;
    closeStream();
    userName.hidden = true;
    signOutButton.hidden = true;
    Object.keys(sections).forEach(function (id) {
      sections[id].reset();
    });
    current = null;
    showSignIn(message);
  }

  function signIn(event) {
    event.preventDefault();
    var email = byId("sign-in-email").value.trim();
    var password = byId("sign-in-password").value;
    if (!email || !password) {
      showSignIn(t("sign_in_missing"));
      return;
    }
    var button = byId("sign-in-submit");
    button.disabled = true;
    send("POST", AUTH_ROOT + "/login", { email: email, password: password })
      .then(function (tokens) {
        byId("sign-in-password").value = "";
        acceptTokens(tokens);
        return startDesk();
      })
      .catch(function (error) {
        var message = error instanceof ApiError && error.status === 401
          ? t("sign_in_failed") : errorText(error);
        showSignIn(message);
      })
      .then(function () {
        button.disabled = false;
      });
  }

  function signOut() {
    send("POST", AUTH_ROOT + "/logout").catch(function () {
      return null;
    }).then(function () {
      endSession(null);
    });
  }

  // ---- live updates ----

  function closeStream() {
    window.clearTimeout(stream.retryTimer);
    if (stream.controller) {
      stream.controller.abort();
      stream.controller = null;
    }
    streamStatus.hidden = true;
  }

  function reconnectLater() {
    streamStatus.hidden = false;
    window.clearTimeout(stream.retryTimer);
    stream.retryTimer = window.setTimeout(openStream, stream.delay);
    stream.delay = Math.min(stream.delay * 2, LONGEST_RETRY_MS);
  }

  function dispatchEvent(name, data) {
    var payload;
    try {
      payload = JSON.parse(data);
    } catch (error) {
      return;
    }
    if (name === "escalation") {
      sections.escalations.arrived(payload);
    } else if (name === "message") {
      sections.conversations.arrived(payload);
    }
  }

  /* Server-sent events over fetch: blocks separated by a blank line, `event:` and `data:`. */
  function openStream() {
    if (!session.token || !may("conversations")) {
      return;
    }
    closeStream();
    var controller = new AbortController();
    stream.controller = controller;
    fetch(apiRoot + "/events", {
      headers: { Accept: "text/event-stream", Authorization: "Bearer " + session.token },
      signal: controller.signal,
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) {
        return refreshSession().then(function (ok) {
          if (ok && stream.controller === controller) {
            reconnectLater();
          }
        });
      }
      if (!response.ok || !response.body) {
        throw new Error("stream refused");
      }
      streamStatus.hidden = true;
      stream.delay = FIRST_RETRY_MS;
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            throw new Error("stream ended");
          }
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
          var end = buffer.indexOf("\n\n");
          while (end >= 0) {
            var block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            var name = "message";
            var data = [];
            block.split("\n").forEach(function (line) {
              if (line.indexOf("event:") === 0) {
                name = line.slice(6).trim();
              } else if (line.indexOf("data:") === 0) {
                data.push(line.slice(5).replace(/^ /, ""));
              }
            });
            if (data.length) {
              dispatchEvent(name, data.join("\n"));
            }
            end = buffer.indexOf("\n\n");
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (stream.controller === controller && session.token) {
        reconnectLater();
      }
    });
  }

  // ---- sections ----

  function showSection(id) {
    if (!id || !sections[id]) {
      return;
    }
    current = id;
    Array.prototype.forEach.call(document.querySelectorAll(".menu__item"), function (item) {
      var active = item.dataset.section === id;
      item.classList.toggle("menu__item--active", active);
      if (active) {
        item.setAttribute("aria-current", "page");
      } else {
        item.removeAttribute("aria-current");
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll(".section"), function (section) {
      section.hidden = section.id !== "section-" + id;
    });
    pageError.hidden = true;
    var section = sections[id];
    if (!section.built) {
      section.build(byId("body-" + id));
      section.built = true;
    }
    section.load();
    try {
      window.history.replaceState(null, "", window.location.pathname + window.location.search +
        "#" + id);
    } catch (error) {
      // The section is not remembered across a reload in an old browser.
    }
  }

  function showError(target, error) {
    target.hidden = false;
    target.textContent = typeof error === "string" ? error : errorText(error);
  }

  function status(node, text) {
    node.hidden = !text;
    node.textContent = text || "";
  }

  /* A change through the API, for a section with `load`: "saving…" in `target`, then the
     `saved` text (or `saved(answer)`), `done`, and the section loaded again; an error stays
     in `target`. */
  function save(section, target, request, done, saved) {
    status(target, t("saving"));
    return request.then(function (data) {
      status(target, typeof saved === "function" ? saved(data) : t("saved"));
      if (done) {
        done();
      }
      return section.load();
    }, function (error) {
      showError(target, error);
    });
  }

  /* A section's list from `path`: kept as `section.items`, then painted. */
  function loadList(section, path) {
    return api("GET", path).then(function (data) {
      section.items = itemsOf(data);
      section.paint();
    }, function (error) {
      showPageError(error);
    });
  }

  function field(labelKey, control) {
    var label = element("label", "field");
    label.appendChild(labelled("span", "field__label", labelKey));
    control.classList.add("field__input");
    label.appendChild(control);
    return label;
  }

  function input(type, id, attributes) {
    var node = element("input");
    node.type = type;
    if (id) {
      node.id = id;
    }
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    return node;
  }

  function button(key, className, id) {
    var node = labelled("button", className || "secondary-button", key);
    node.type = "button";
    if (id) {
      node.id = id;
    }
    return node;
  }

  function option(value, text) {
    var node = element("option", null, text);
    node.value = value;
    return node;
  }

  function badge(key, modifier) {
    return element("span", "badge badge--" + modifier, t(key));
  }

  function emptyRow(list, key) {
    list.appendChild(element("li", "list__empty", t(key)));
  }

  function section(definition) {
    definition.built = false;
    if (!definition.reset) {
      definition.reset = function () {};
    }
    return definition;
  }

  var URGENCY = {
    EMERGENCY: ["urgency_emergency", "danger"],
    DOCTOR_REQUIRED: ["urgency_doctor_required", "amber"],
    ROUTINE: ["urgency_routine", "grey"]
  };
  var ROLES = {
    patient: "role_patient", assistant: "role_assistant", doctor: "role_doctor",
    staff: "role_staff"
  };

  function urgencyBadge(urgency) {
    var known = URGENCY[urgency] || ["urgency_routine", "grey"];
    return badge(known[0], known[1]);
  }

  function showPageError(error) {
    showError(pageError, error);
  }

  function me() {
    return session.me;
  }

  function language() {
    return uiLanguage;
  }

  function currentSection() {
    return current;
  }

  window.StaffDesk = {
    sections: sections,
    section: section,
    t: t,
    fill: fill,
    labelled: labelled,
    element: element,
    fillText: fillText,
    formatWith: formatWith,
    formatDateTime: formatDateTime,
    formatClock: formatClock,
    formatDay: formatDay,
    isoDate: isoDate,
    addDays: addDays,
    personName: personName,
    api: api,
    query: query,
    itemsOf: itemsOf,
    newestOnly: newestOnly,
    showError: showError,
    showPageError: showPageError,
    status: status,
    save: save,
    loadList: loadList,
    field: field,
    input: input,
    button: button,
    option: option,
    badge: badge,
    emptyRow: emptyRow,
    urgencyBadge: urgencyBadge,
    ROLES: ROLES,
    may: may,
    me: me,
    language: language,
    currentSection: currentSection,
    showSection: showSection,
    SEARCH_DELAY_MS: SEARCH_DELAY_MS
  };

  // ---- start, once every section's script has registered ----

  function start() {
    signInForm.addEventListener("submit", signIn);
    signOutButton.addEventListener("click", signOut);
    languageToggle.addEventListener("click", toggleUiLanguage);
    Array.prototype.forEach.call(document.querySelectorAll(".menu__item"), function (item) {
      item.addEventListener("click", function () {
        showSection(item.dataset.section);
      });
    });

    // A reload continues the session through the refresh cookie, if there is one.
    refreshSession().then(function (ok) {
      if (!ok) {
        showSignIn(null);
        return null;
      }
      return startDesk();
    }).catch(function (error) {
      showSignIn(errorText(error));
    }).then(function () {
      root.dataset.ready = "true";
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
