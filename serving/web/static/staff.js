/*
 * The staff dashboard (/staff): chrome around /api/v1/admin/* (data-api-root) and sign-in
 * through /api/v1/auth/*. The HTML carries no patient data; everything loads after sign-in.
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
  var MAX_REPLY_CHARS = 4000;
  // Python weekdays (Monday 0), listed from Sunday as the clinic's week starts.
  var WEEKDAYS = [6, 0, 1, 2, 3, 4, 5];
  var DAY_CODES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

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
    try {
      var url = new URL(window.location.href);
      url.searchParams.set("lang", next);
      window.history.replaceState(null, "", url.pathname + url.search);
    } catch (error) {
      // An old browser keeps the choice until the page is reloaded.
    }
  }

  var WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?/;

  /* The clinic's wall-clock time as written in the ISO string (its offset is the clinic's). */
  function formatWith(iso, options) {
    var parts = WALL_CLOCK.exec(String(iso || ""));
    if (!parts) {
      return String(iso || "");
    }
    var when = new Date(Date.UTC(+parts[1], +parts[2] - 1, +parts[3], +(parts[4] || 0),
      +(parts[5] || 0)));
    options.timeZone = "UTC";
    try {
      return new Intl.DateTimeFormat(uiLanguage === "he" ? "he-IL" : "en-GB", options)
        .format(when);
    } catch (error) {
      return String(iso).slice(0, 16).replace("T", " ");
    }
  }

  function formatDateTime(iso) {
    return formatWith(iso, {
      weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
  }

  function formatClock(iso) {
    return formatWith(iso, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
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
  var ESCALATION_STATUS = {
    open: "escalation_open", claimed: "escalation_claimed", closed: "escalation_closed"
  };
  /* Appointment states that need no badge: the calendar lists booked appointments. */
  var SETTLED = ["scheduled", "booked", "confirmed"];
  var ROLES = {
    patient: "role_patient", assistant: "role_assistant", doctor: "role_doctor",
    staff: "role_staff"
  };

  function urgencyBadge(urgency) {
    var known = URGENCY[urgency] || ["urgency_routine", "grey"];
    return badge(known[0], known[1]);
  }

  // ---- Conversations: search, read, take over, reply, hand back ----

  sections.conversations = section({
    items: [],
    open: null,
    refreshTimer: null,
    build: function (body) {
      var self = this;
      var form = element("form", "toolbar");
      form.setAttribute("role", "search");
      var search = input("search", "conversation-search", { "data-placeholder": "search_hint" });
      search.placeholder = t("search_hint");
      var channel = element("select");
      channel.id = "conversation-channel";
      [["", "channel_any"], ["web", "channel_web"], ["telegram", "channel_telegram"]]
        .forEach(function (pair) {
          var node = option(pair[0], t(pair[1]));
          node.setAttribute("data-text", pair[1]);
          channel.appendChild(node);
        });
      var held = input("checkbox", "conversation-held");
      var heldLabel = element("label", "check");
      heldLabel.appendChild(held);
      heldLabel.appendChild(labelled("span", null, "held_only"));
      form.appendChild(field("search_label", search));
      form.appendChild(field("channel_label", channel));
      form.appendChild(heldLabel);
      var timer = null;
      search.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          self.load();
        }, SEARCH_DELAY_MS);
      });
      channel.addEventListener("change", function () {
        self.load();
      });
      held.addEventListener("change", function () {
        self.load();
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.load();
      });

      var columns = element("div", "columns");
      var list = element("ul", "list conversation-list");
      list.id = "conversation-list";
      var view = element("div", "card conversation");
      view.id = "conversation-view";
      view.hidden = true;
      var heading = element("div", "conversation__heading");
      heading.id = "conversation-heading";
      var actions = element("div", "conversation__actions");
      var takeOver = button("take_over", "primary-button", "take-over");
      var handBack = button("hand_back", "secondary-button", "hand-back");
      actions.appendChild(takeOver);
      actions.appendChild(handBack);
      var actionError = element("p", "notice notice--error");
      actionError.id = "conversation-error";
      actionError.hidden = true;
      actionError.setAttribute("role", "alert");
      var messages = element("div", "messages");
      messages.id = "conversation-messages";
      messages.setAttribute("role", "log");
      messages.setAttribute("aria-live", "polite");
      var reply = element("form", "composer");
      reply.id = "reply-form";
      reply.setAttribute("novalidate", "");
      var textarea = element("textarea", "composer__input");
      textarea.id = "reply-input";
      textarea.rows = 2;
      textarea.dir = "auto";
      textarea.maxLength = MAX_REPLY_CHARS;
      textarea.setAttribute("data-placeholder", "reply_placeholder");
      textarea.setAttribute("aria-label", t("reply_label"));
      textarea.setAttribute("data-label", "reply_label");
      textarea.placeholder = t("reply_placeholder");
      var sendButton = labelled("button", "composer__send", "send");
      sendButton.id = "reply-send";
      sendButton.type = "submit";
      reply.appendChild(textarea);
      reply.appendChild(sendButton);
      view.appendChild(heading);
      view.appendChild(actions);
      view.appendChild(actionError);
      view.appendChild(messages);
      view.appendChild(reply);
      columns.appendChild(list);
      columns.appendChild(view);
      body.appendChild(form);
      body.appendChild(columns);

      takeOver.addEventListener("click", function () {
        self.act("takeover");
      });
      handBack.addEventListener("click", function () {
        if (window.confirm(t("hand_back_confirm"))) {
          self.act("handback");
        }
      });
      reply.addEventListener("submit", function (event) {
        event.preventDefault();
        self.reply();
      });
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          self.reply();
        }
      });
      this.nodes = {
        search: search, channel: channel, held: held, list: list, view: view, heading: heading,
        takeOver: takeOver, handBack: handBack, actionError: actionError, messages: messages,
        reply: reply, textarea: textarea, sendButton: sendButton
      };
    },
    load: function () {
      var self = this;
      var nodes = this.nodes;
      if (!nodes) {
        return Promise.resolve();
      }
      return api("GET", "/conversations" + query({
        q: nodes.search.value.trim(),
        channel: nodes.channel.value,
        held: nodes.held.checked ? "true" : "",
        limit: 50
      })).then(function (data) {
        self.items = itemsOf(data);
        self.paintList();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      this.paintList();
      this.paintOpen();
    },
    paintList: function () {
      var self = this;
      var list = this.nodes.list;
      list.textContent = "";
      if (!this.items.length) {
        emptyRow(list, "no_conversations");
      }
      this.items.forEach(function (item) {
        var row = element("li");
        var open = element("button", "conversation-item");
        open.type = "button";
        open.dataset.id = item.id;
        if (self.open && self.open.conversation.id === item.id) {
          open.classList.add("conversation-item--open");
          open.setAttribute("aria-current", "true");
        }
        var top = element("span", "conversation-item__top");
        top.appendChild(element("bdi", "conversation-item__name", personName(item.patient)));
        top.appendChild(element("span", "muted", formatDateTime(item.last_message_at)));
        open.appendChild(top);
        var badges = element("span", "conversation-item__badges");
        badges.appendChild(badge("channel_" + item.channel, "grey"));
        if (item.escalation && item.escalation.status !== "closed") {
          badges.appendChild(urgencyBadge(item.escalation.urgency));
        }
        if (item.held_by) {
          badges.appendChild(element("span", "badge badge--brand",
            fill(t("held_by"), { name: item.held_by })));
        }
        badges.appendChild(element("span", "muted",
          fill(t("message_count"), { count: item.message_count })));
        open.appendChild(badges);
        open.addEventListener("click", function () {
          self.show(item.id);
        });
        row.appendChild(open);
        list.appendChild(row);
      });
    },
    show: function (id) {
      var self = this;
      return api("GET", "/conversations/" + encodeURIComponent(id)).then(function (data) {
        var opening = !self.open || self.open.conversation.id !== id;
        self.open = data;
        self.paintOpen();
        self.paintList();
        if (opening) {
          self.nodes.view.scrollIntoView({ block: "nearest" });
        }
      }, function (error) {
        showError(pageError, error);
      });
    },
    paintOpen: function () {
      var nodes = this.nodes;
      var open = this.open;
      nodes.view.hidden = !open;
      if (!open) {
        return;
      }
      var conversation = open.conversation;
      var mine = !!conversation.held_by && !!session.me && conversation.held_by === session.me.name;
      nodes.heading.textContent = "";
      nodes.heading.appendChild(element("h2", "card__heading", personName(conversation.patient)));
      var facts = element("p", "muted");
      facts.textContent = t("channel_" + conversation.channel) + " · " +
        (conversation.held_by ? fill(t("held_by"), { name: conversation.held_by })
          : t("assistant_answers"));
      nodes.heading.appendChild(facts);
      nodes.takeOver.hidden = mine;
      nodes.takeOver.disabled = !!conversation.held_by && !mine;
      nodes.handBack.hidden = !mine;
      nodes.reply.hidden = !mine;
      var messages = nodes.messages;
      messages.textContent = "";
      if (!open.messages.length) {
        messages.appendChild(element("p", "muted", t("no_messages")));
      }
      open.messages.forEach(function (message) {
        var item = element("div", "message message--" + message.role);
        item.dataset.id = message.id;
        var meta = element("p", "message__meta");
        meta.appendChild(element("bdi", null, message.author || t(ROLES[message.role] ||
          "role_assistant")));
        meta.appendChild(element("span", null, " · " + formatDateTime(message.at)));
        if (message.delivery === "failed") {
          meta.appendChild(element("span", "message__failed", " · " + t("not_delivered")));
        }
        item.appendChild(meta);
        var text = element("div", "message__text");
        fillText(text, message.text);
        item.appendChild(text);
        messages.appendChild(item);
      });
      messages.scrollTop = messages.scrollHeight;
    },
    act: function (action) {
      var self = this;
      var id = this.open.conversation.id;
      this.nodes.actionError.hidden = true;
      return api("POST", "/conversations/" + encodeURIComponent(id) + "/" + action)
        .then(function () {
          return self.show(id);
        }, function (error) {
          showError(self.nodes.actionError, error);
        });
    },
    reply: function () {
      var self = this;
      var nodes = this.nodes;
      var text = nodes.textarea.value.trim();
      if (!text || nodes.sendButton.disabled) {
        return;
      }
      var id = this.open.conversation.id;
      nodes.sendButton.disabled = true;
      nodes.actionError.hidden = true;
      api("POST", "/conversations/" + encodeURIComponent(id) + "/messages", { text: text })
        .then(function (data) {
          nodes.textarea.value = "";
          if (data && data.delivered === false) {
            showError(nodes.actionError, t("reply_not_delivered"));
          }
          return self.show(id);
        }, function (error) {
          showError(nodes.actionError, error);
        })
        .then(function () {
          nodes.sendButton.disabled = false;
        });
    },
    /* A message was stored somewhere: the open conversation and the list catch up. */
    arrived: function (event) {
      var self = this;
      if (!this.built) {
        return;
      }
      if (this.open && this.open.conversation.id === event.conversation_id) {
        this.show(event.conversation_id);
      }
      window.clearTimeout(this.refreshTimer);
      this.refreshTimer = window.setTimeout(function () {
        if (current === "conversations") {
          self.load();
        }
      }, SEARCH_DELAY_MS);
    },
    reset: function () {
      this.items = [];
      this.open = null;
      if (this.nodes) {
        this.nodes.list.textContent = "";
        this.nodes.view.hidden = true;
      }
    }
  });

  // ---- Escalations: the live queue ----

  sections.escalations = section({
    items: [],
    build: function (body) {
      var list = element("ul", "list escalation-list");
      list.id = "escalation-list";
      body.appendChild(list);
      this.nodes = { list: list };
    },
    load: function () {
      var self = this;
      return api("GET", "/escalations").then(function (data) {
        self.items = itemsOf(data);
        self.paintCount();
        if (self.built) {
          self.paint();
        }
      }, function (error) {
        showError(pageError, error);
      });
    },
    paintCount: function () {
      var waiting = this.items.filter(function (item) {
        return item.status === "open";
      }).length;
      escalationCount.hidden = waiting === 0;
      escalationCount.textContent = String(waiting);
    },
    paint: function () {
      var list = this.nodes.list;
      list.textContent = "";
      if (!this.items.length) {
        emptyRow(list, "no_escalations");
      }
      this.items.forEach(function (item) {
        var row = element("li", "card escalation-item");
        row.dataset.id = item.id;
        row.dataset.status = item.status;
        var top = element("div", "escalation-item__top");
        top.appendChild(urgencyBadge(item.urgency));
        top.appendChild(badge(ESCALATION_STATUS[item.status] || "escalation_open", "grey"));
        top.appendChild(element("span", "muted", formatDateTime(item.created_at)));
        row.appendChild(top);
        row.appendChild(element("bdi", "escalation-item__patient", personName(item.patient)));
        if (item.summary) {
          var summary = element("div", "escalation-item__summary");
          fillText(summary, item.summary);
          row.appendChild(summary);
        }
        if (item.doctor_name) {
          row.appendChild(element("p", "muted", fill(t("escalation_doctor"),
            { name: item.doctor_name })));
        }
        if (item.status !== "closed" && may("escalations.join")) {
          var join = button("join", "primary-button escalation-item__join");
          join.addEventListener("click", function () {
            join.disabled = true;
            api("POST", "/escalations/" + encodeURIComponent(item.id) + "/join")
              .then(function (data) {
                showSection("conversations");
                return sections.conversations.show(
                  (data && data.conversation && data.conversation.id) || item.conversation_id);
              }, function (error) {
                join.disabled = false;
                showError(pageError, error);
              });
          });
          row.appendChild(join);
        }
        list.appendChild(row);
      });
    },
    arrived: function () {
      this.load();
    },
    reset: function () {
      this.items = [];
      escalationCount.hidden = true;
      if (this.nodes) {
        this.nodes.list.textContent = "";
      }
    }
  });

  // ---- Calendar: a provider's week, booking, moving and cancelling ----

  sections.calendar = section({
    providers: [],
    treatments: [],
    calendar: null,
    patient: null,
    slot: null,
    moving: null,
    slots: [],
    build: function (body) {
      var self = this;
      var controls = element("div", "toolbar");
      var provider = element("select");
      provider.id = "calendar-provider";
      var from = input("date", "calendar-from");
      from.value = isoDate(new Date());
      var previous = button("previous_week", "secondary-button", "calendar-previous");
      var next = button("next_week", "secondary-button", "calendar-next");
      controls.appendChild(field("provider_label", provider));
      controls.appendChild(field("week_from", from));
      controls.appendChild(previous);
      controls.appendChild(next);
      var columns = element("div", "columns");
      var days = element("div", "calendar-days");
      days.id = "calendar-days";

      var booking = element("form", "card booking");
      booking.id = "booking";
      booking.setAttribute("novalidate", "");
      var heading = labelled("h2", "card__heading", "book_heading");
      heading.id = "booking-heading";
      booking.appendChild(heading);
      var moving = element("div", "moving");
      moving.id = "booking-moving";
      moving.hidden = true;
      var movingText = element("p");
      var stopMoving = button("stop_moving", "text-button", "booking-stop-moving");
      moving.appendChild(movingText);
      moving.appendChild(stopMoving);
      booking.appendChild(moving);
      var patientRow = element("div", "booking__patient");
      var patientQuery = input("search", "book-patient-query",
        { "data-placeholder": "patient_search_hint", autocomplete: "off" });
      patientQuery.placeholder = t("patient_search_hint");
      patientRow.appendChild(field("patient_label", patientQuery));
      var patients = element("ul", "choices");
      patients.id = "book-patients";
      var chosen = element("p", "booking__chosen");
      chosen.id = "book-patient";
      chosen.hidden = true;
      patientRow.appendChild(patients);
      patientRow.appendChild(chosen);
      booking.appendChild(patientRow);
      var treatment = element("select");
      treatment.id = "book-treatment";
      var date = input("date", "book-date");
      date.value = isoDate(new Date());
      booking.appendChild(field("treatment_label", treatment));
      booking.appendChild(field("date_label", date));
      var find = button("find_slots", "secondary-button", "book-find");
      booking.appendChild(find);
      var slots = element("ul", "choices slots");
      slots.id = "book-slots";
      booking.appendChild(slots);
      var confirm = element("button", "primary-button");
      confirm.id = "book-confirm";
      confirm.type = "submit";
      confirm.disabled = true;
      booking.appendChild(confirm);
      var bookingStatus = element("p", "booking__status");
      bookingStatus.id = "book-status";
      bookingStatus.setAttribute("role", "status");
      bookingStatus.hidden = true;
      booking.appendChild(bookingStatus);

      columns.appendChild(days);
      columns.appendChild(booking);
      body.appendChild(controls);
      body.appendChild(columns);

      provider.addEventListener("change", function () {
        self.loadCalendar();
      });
      from.addEventListener("change", function () {
        self.loadCalendar();
      });
      previous.addEventListener("click", function () {
        from.value = addDays(from.value || isoDate(new Date()), -7);
        self.loadCalendar();
      });
      next.addEventListener("click", function () {
        from.value = addDays(from.value || isoDate(new Date()), 7);
        self.loadCalendar();
      });
      var searchTimer = null;
      patientQuery.addEventListener("input", function () {
        window.clearTimeout(searchTimer);
        searchTimer = window.setTimeout(function () {
          self.searchPatients();
        }, SEARCH_DELAY_MS);
      });
      find.addEventListener("click", function () {
        self.findSlots();
      });
      booking.addEventListener("submit", function (event) {
        event.preventDefault();
        self.confirm();
      });
      stopMoving.addEventListener("click", function () {
        self.moving = null;
        self.clearSlots();
        self.paintBooking();
      });
      this.nodes = {
        provider: provider, from: from, days: days, patientQuery: patientQuery,
        patients: patients, chosen: chosen, treatment: treatment, date: date, slots: slots,
        confirm: confirm, status: bookingStatus, moving: moving, movingText: movingText,
        patientRow: patientRow
      };
    },
    load: function () {
      var self = this;
      if (this.providers.length) {
        return this.loadCalendar();
      }
      return Promise.all([api("GET", "/providers"), api("GET", "/treatments")])
        .then(function (results) {
          self.providers = itemsOf(results[0]).filter(function (provider) {
            return provider.active !== false;
          });
          self.treatments = itemsOf(results[1]);
          self.paintChoices();
          return self.loadCalendar();
        }, function (error) {
          showError(pageError, error);
        });
    },
    paintChoices: function () {
      var self = this;
      var provider = this.nodes.provider;
      var chosenProvider = provider.value;
      provider.textContent = "";
      this.providers.forEach(function (item) {
        provider.appendChild(option(item.id, personName(item)));
      });
      if (chosenProvider) {
        provider.value = chosenProvider;
      }
      var treatment = this.nodes.treatment;
      var chosenTreatment = treatment.value;
      treatment.textContent = "";
      this.treatments.forEach(function (item) {
        treatment.appendChild(option(item.code, personName(item) + " · " +
          fill(t("minutes"), { minutes: item.duration_minutes })));
      });
      if (chosenTreatment) {
        treatment.value = chosenTreatment;
      }
      self.paintBooking();
    },
    loadCalendar: function () {
      var self = this;
      var providerId = this.nodes.provider.value;
      if (!providerId) {
        this.calendar = null;
        this.paintDays();
        return Promise.resolve();
      }
      return api("GET", "/calendar" + query({
        provider_id: providerId, from: this.nodes.from.value, days: 7
      })).then(function (data) {
        self.calendar = data;
        self.paintDays();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      this.paintChoices();
      this.paintDays();
      this.paintSlots();
    },
    paintDays: function () {
      var self = this;
      var days = this.nodes.days;
      days.textContent = "";
      if (!this.calendar) {
        return;
      }
      this.calendar.days.forEach(function (day) {
        var box = element("section", "card calendar-day");
        box.dataset.date = day.date;
        var top = element("div", "calendar-day__top");
        top.appendChild(element("h2", "card__heading", formatDay(day.date)));
        var hours = (day.hours || []).map(function (window) {
          return window[0] + "–" + window[1];
        }).join(", ");
        var hoursNode = element("span", "muted", hours || t("closed_day"));
        hoursNode.dir = "ltr";
        top.appendChild(hoursNode);
        box.appendChild(top);
        var list = element("ul", "list");
        if (!day.appointments.length) {
          emptyRow(list, "no_appointments");
        }
        day.appointments.forEach(function (appointment) {
          var row = element("li", "appointment");
          row.dataset.id = appointment.id;
          var time = element("span", "appointment__time",
            formatClock(appointment.starts_at) + "–" + formatClock(appointment.ends_at));
          time.dir = "ltr";
          row.appendChild(time);
          row.appendChild(element("bdi", "appointment__patient", personName(appointment.patient)));
          row.appendChild(element("span", "muted",
            self.treatmentName(appointment.treatment_code || appointment.treatment)));
          if (appointment.status && SETTLED.indexOf(appointment.status) < 0) {
            row.appendChild(element("span", "badge badge--grey", appointment.status));
          }
          var move = button("move", "text-button");
          move.addEventListener("click", function () {
            self.startMoving(appointment);
          });
          var cancel = button("cancel_appointment", "text-button text-button--danger");
          cancel.addEventListener("click", function () {
            self.cancel(appointment);
          });
          row.appendChild(move);
          row.appendChild(cancel);
          list.appendChild(row);
        });
        box.appendChild(list);
        days.appendChild(box);
      });
    },
    treatmentFor: function (value) {
      return this.treatments.filter(function (item) {
        return item.code === value || item.name === value || item.name_he === value;
      })[0] || null;
    },
    treatmentName: function (value) {
      var known = this.treatmentFor(value);
      return known ? personName(known) : String(value || "");
    },
    searchPatients: function () {
      var self = this;
      var text = this.nodes.patientQuery.value.trim();
      var list = this.nodes.patients;
      if (text.length < 2) {
        list.textContent = "";
        return Promise.resolve();
      }
      return api("GET", "/patients" + query({ q: text })).then(function (data) {
        list.textContent = "";
        var items = itemsOf(data);
        if (!items.length) {
          emptyRow(list, "no_patients");
        }
        items.forEach(function (patient) {
          var row = element("li");
          var choose = element("button", "choice");
          choose.type = "button";
          choose.dataset.id = patient.id;
          choose.appendChild(element("bdi", null, personName(patient)));
          var phone = element("span", "muted number", patient.phone || "");
          phone.dir = "ltr";
          choose.appendChild(phone);
          choose.addEventListener("click", function () {
            self.patient = patient;
            list.textContent = "";
            self.nodes.patientQuery.value = "";
            self.paintBooking();
          });
          row.appendChild(choose);
          list.appendChild(row);
        });
      }, function (error) {
        showError(self.nodes.status, error);
      });
    },
    findSlots: function () {
      var self = this;
      var nodes = this.nodes;
      status(nodes.status, t("searching"));
      this.slot = null;
      return api("GET", "/slots" + query({
        treatment: nodes.treatment.value,
        provider_id: nodes.provider.value,
        date: nodes.date.value
      })).then(function (data) {
        self.slots = itemsOf(data);
        status(nodes.status, self.slots.length ? "" : t("no_slots"));
        self.paintSlots();
      }, function (error) {
        showError(nodes.status, error);
      });
    },
    clearSlots: function () {
      this.slots = [];
      this.slot = null;
      this.paintSlots();
    },
    paintSlots: function () {
      var self = this;
      var list = this.nodes.slots;
      list.textContent = "";
      this.slots.forEach(function (slot) {
        var row = element("li");
        var choose = element("button", "choice slot");
        choose.type = "button";
        choose.dataset.startsAt = slot.starts_at;
        choose.setAttribute("aria-pressed", String(self.slot === slot));
        choose.appendChild(element("span", "slot__time", formatClock(slot.starts_at)));
        choose.appendChild(element("bdi", "muted", (uiLanguage === "he" &&
          slot.provider_name_he) || slot.provider_name || ""));
        choose.addEventListener("click", function () {
          self.slot = slot;
          self.paintSlots();
        });
        row.appendChild(choose);
        list.appendChild(row);
      });
      this.paintBooking();
    },
    paintBooking: function () {
      var nodes = this.nodes;
      var moving = this.moving;
      nodes.moving.hidden = !moving;
      nodes.patientRow.hidden = !!moving;
      nodes.treatment.disabled = !!moving;
      if (moving) {
        nodes.movingText.textContent = fill(t("moving"), {
          patient: personName(moving.patient), time: formatDateTime(moving.starts_at)
        });
      }
      nodes.chosen.hidden = !this.patient;
      nodes.chosen.textContent = this.patient
        ? fill(t("patient_chosen"), { name: personName(this.patient) }) : "";
      var ready = !!this.slot && (!!moving || !!this.patient);
      nodes.confirm.disabled = !ready;
      if (moving) {
        nodes.confirm.textContent = this.slot
          ? fill(t("move_to"), { time: formatDateTime(this.slot.starts_at) }) : t("choose_slot");
      } else {
        nodes.confirm.textContent = ready ? fill(t("book_confirm"), {
          name: personName(this.patient), time: formatDateTime(this.slot.starts_at)
        }) : t("choose_patient_and_slot");
      }
    },
    startMoving: function (appointment) {
      var known = this.treatmentFor(appointment.treatment_code || appointment.treatment);
      this.moving = appointment;
      if (known) {
        this.nodes.treatment.value = known.code;
      }
      this.nodes.date.value = String(appointment.starts_at).slice(0, 10);
      this.clearSlots();
      status(this.nodes.status, "");
      this.nodes.date.focus();
    },
    confirm: function () {
      var self = this;
      var nodes = this.nodes;
      var slot = this.slot;
      if (!slot || nodes.confirm.disabled) {
        return;
      }
      nodes.confirm.disabled = true;
      var request;
      if (this.moving) {
        request = api("PATCH", "/appointments/" + encodeURIComponent(this.moving.id),
          { starts_at: slot.starts_at, provider_id: slot.provider_id });
      } else {
        request = api("POST", "/appointments", {
          patient_id: this.patient.id, treatment: nodes.treatment.value,
          provider_id: slot.provider_id, starts_at: slot.starts_at
        });
      }
      request.then(function () {
        status(nodes.status, fill(t(self.moving ? "moved" : "booked"),
          { time: formatDateTime(slot.starts_at) }));
        self.moving = null;
        self.patient = null;
        self.clearSlots();
        return self.loadCalendar();
      }, function (error) {
        showError(nodes.status, error.status === 409 ? t("slot_taken") : error);
        self.paintBooking();
      });
    },
    cancel: function (appointment) {
      var self = this;
      if (!window.confirm(fill(t("cancel_confirm"), { time: formatDateTime(appointment.starts_at) }))) {
        return;
      }
      api("DELETE", "/appointments/" + encodeURIComponent(appointment.id)).then(function () {
        status(self.nodes.status, fill(t("cancelled"),
          { time: formatDateTime(appointment.starts_at) }));
        return self.loadCalendar();
      }, function (error) {
        showError(self.nodes.status, error);
      });
    },
    reset: function () {
      this.providers = [];
      this.calendar = null;
      this.patient = null;
      this.moving = null;
      this.slots = [];
      this.slot = null;
      if (this.nodes) {
        this.nodes.days.textContent = "";
        this.nodes.slots.textContent = "";
      }
    }
  });

  // ---- Clinic set-up (admin): profile, providers and their hours, treatments, closures ----

  var PROFILE_FIELDS = [
    ["name_en", "profile_name_en", "text"], ["name_he", "profile_name_he", "text"],
    ["phone", "profile_phone", "tel"], ["urgent_line", "profile_urgent_line", "tel"],
    ["address_en", "profile_address_en", "text"], ["address_he", "profile_address_he", "text"],
    ["parking_en", "profile_parking_en", "area"], ["parking_he", "profile_parking_he", "area"],
    ["insurance_en", "profile_insurance_en", "area"],
    ["insurance_he", "profile_insurance_he", "area"],
    ["payment_en", "profile_payment_en", "area"], ["payment_he", "profile_payment_he", "area"],
    ["latitude", "profile_latitude", "number"], ["longitude", "profile_longitude", "number"]
  ];

  /* The flat field's value in the clinic's profile as the API returns it ({name: {en, he}}). */
  function profileValue(profile, name) {
    var match = /^(.*)_(en|he)$/.exec(name);
    if (match && profile[match[1]] && typeof profile[match[1]] === "object") {
      return profile[match[1]][match[2]];
    }
    if ((name === "latitude" || name === "longitude") && profile.location) {
      return profile.location[name];
    }
    return profile[name];
  }

  function panel(body, headingKey, id) {
    var box = element("section", "card setup-panel");
    box.id = id;
    box.appendChild(labelled("h2", "card__heading", headingKey));
    body.appendChild(box);
    return box;
  }

  function panelStatus(box) {
    var node = element("p", "panel__status");
    node.setAttribute("role", "status");
    node.hidden = true;
    box.appendChild(node);
    return node;
  }

  /* Provider hours as weekday (Monday = 0) windows, from either spelling the API may use. */
  function windowsOf(provider) {
    return (provider.hours || provider.windows || []).map(function (window) {
      var weekday = typeof window.weekday === "number" ? window.weekday
        : DAY_CODES.indexOf(window.day);
      return {
        weekday: weekday,
        starts: String(window.starts || window.starts_at || "").slice(0, 5),
        ends: String(window.ends || window.ends_at || "").slice(0, 5)
      };
    });
  }

  sections.setup = section({
    clinic: null,
    build: function (body) {
      var self = this;
      var nodes = {};
      // Working hours first: the change a clinic makes most often.
      var hours = panel(body, "hours_heading", "setup-hours");
      nodes.hoursProvider = element("select");
      nodes.hoursProvider.id = "hours-provider";
      hours.appendChild(field("provider_label", nodes.hoursProvider));
      nodes.hoursRows = element("ul", "hours-rows");
      nodes.hoursRows.id = "hours-rows";
      hours.appendChild(nodes.hoursRows);
      var hoursActions = element("div", "panel__actions");
      var addWindow = button("add_window", "secondary-button", "hours-add");
      var saveHours = button("save_hours", "primary-button", "hours-save");
      hoursActions.appendChild(addWindow);
      hoursActions.appendChild(saveHours);
      hours.appendChild(hoursActions);
      nodes.hoursStatus = panelStatus(hours);
      nodes.hoursProvider.addEventListener("change", function () {
        self.paintHours();
      });
      addWindow.addEventListener("click", function () {
        self.addHoursRow({ weekday: 6, starts: "08:00", ends: "16:00" });
      });
      saveHours.addEventListener("click", function () {
        self.saveHours();
      });

      var providers = panel(body, "providers_heading", "setup-providers");
      nodes.providerList = element("ul", "list");
      nodes.providerList.id = "provider-list";
      providers.appendChild(nodes.providerList);
      var addProvider = element("form", "inline-form");
      addProvider.id = "provider-add";
      nodes.providerName = input("text", "provider-name", { required: "" });
      nodes.providerNameHe = input("text", "provider-name-he", { required: "", dir: "rtl" });
      nodes.providerRole = element("select");
      nodes.providerRole.id = "provider-role";
      ["dentist", "hygienist"].forEach(function (role) {
        var node = option(role, t("provider_role_" + role));
        node.setAttribute("data-text", "provider_role_" + role);
        nodes.providerRole.appendChild(node);
      });
      addProvider.appendChild(field("name_en_label", nodes.providerName));
      addProvider.appendChild(field("name_he_label", nodes.providerNameHe));
      addProvider.appendChild(field("provider_role_label", nodes.providerRole));
      var addProviderButton = labelled("button", "primary-button", "add_provider");
      addProviderButton.type = "submit";
      addProvider.appendChild(addProviderButton);
      providers.appendChild(addProvider);
      nodes.providersStatus = panelStatus(providers);
      addProvider.addEventListener("submit", function (event) {
        event.preventDefault();
        self.change(nodes.providersStatus, "POST", "/clinic/providers", {
          name: nodes.providerName.value.trim(), name_he: nodes.providerNameHe.value.trim(),
          role: nodes.providerRole.value
        }, function () {
          addProvider.reset();
        });
      });

      var treatments = panel(body, "treatments_heading", "setup-treatments");
      nodes.treatmentList = element("ul", "list");
      nodes.treatmentList.id = "treatment-list";
      treatments.appendChild(nodes.treatmentList);
      var addTreatment = element("form", "inline-form");
      addTreatment.id = "treatment-add";
      nodes.treatmentCode = input("text", "treatment-code",
        { required: "", dir: "ltr", pattern: "[a-z0-9_]{1,40}" });
      nodes.treatmentName = input("text", "treatment-name", { required: "" });
      nodes.treatmentNameHe = input("text", "treatment-name-he", { required: "", dir: "rtl" });
      nodes.treatmentMinutes = input("number", "treatment-minutes",
        { min: "5", max: "480", step: "5", required: "" });
      nodes.treatmentPrice = input("number", "treatment-price", { min: "0", step: "0.01" });
      addTreatment.appendChild(field("treatment_code_label", nodes.treatmentCode));
      addTreatment.appendChild(field("name_en_label", nodes.treatmentName));
      addTreatment.appendChild(field("name_he_label", nodes.treatmentNameHe));
      addTreatment.appendChild(field("duration_label", nodes.treatmentMinutes));
      addTreatment.appendChild(field("price_label", nodes.treatmentPrice));
      var addTreatmentButton = labelled("button", "primary-button", "save_treatment");
      addTreatmentButton.type = "submit";
      addTreatment.appendChild(addTreatmentButton);
      treatments.appendChild(addTreatment);
      nodes.treatmentsStatus = panelStatus(treatments);
      addTreatment.addEventListener("submit", function (event) {
        event.preventDefault();
        self.saveTreatment();
      });

      var closures = panel(body, "closures_heading", "setup-closures");
      nodes.closureList = element("ul", "list");
      nodes.closureList.id = "closure-list";
      closures.appendChild(nodes.closureList);
      var addClosure = element("form", "inline-form");
      addClosure.id = "closure-add";
      nodes.closureDay = input("date", "closure-day", { required: "" });
      nodes.closureReason = input("text", "closure-reason", { required: "", maxlength: "200" });
      addClosure.appendChild(field("date_label", nodes.closureDay));
      addClosure.appendChild(field("closure_reason_label", nodes.closureReason));
      var addClosureButton = labelled("button", "primary-button", "add_closure");
      addClosureButton.type = "submit";
      addClosure.appendChild(addClosureButton);
      closures.appendChild(addClosure);
      nodes.closuresStatus = panelStatus(closures);
      addClosure.addEventListener("submit", function (event) {
        event.preventDefault();
        self.change(nodes.closuresStatus, "POST", "/clinic/closures", {
          day: nodes.closureDay.value, reason: nodes.closureReason.value.trim()
        }, function () {
          addClosure.reset();
        });
      });

      var profile = panel(body, "profile_heading", "setup-profile");
      var profileForm = element("form", "profile-form");
      profileForm.id = "profile-form";
      nodes.profileInputs = {};
      PROFILE_FIELDS.forEach(function (spec) {
        var control = spec[2] === "area" ? element("textarea") : input(spec[2]);
        if (spec[2] === "area") {
          control.rows = 2;
        }
        if (spec[2] === "number") {
          control.step = "any";
        }
        control.id = "profile-" + spec[0].replace(/_/g, "-");
        control.dir = /_he$/.test(spec[0]) ? "rtl" : /_en$|phone|line|itude/.test(spec[0])
          ? "ltr" : "auto";
        nodes.profileInputs[spec[0]] = control;
        profileForm.appendChild(field(spec[1], control));
      });
      var saveProfile = labelled("button", "primary-button", "save_profile");
      saveProfile.type = "submit";
      profileForm.appendChild(saveProfile);
      profile.appendChild(profileForm);
      nodes.profileStatus = panelStatus(profile);
      profileForm.addEventListener("submit", function (event) {
        event.preventDefault();
        self.saveProfile();
      });
      this.nodes = nodes;
    },
    load: function () {
      var self = this;
      return Promise.all([
        api("GET", "/clinic"), api("GET", "/clinic/providers"), api("GET", "/clinic/treatments"),
        api("GET", "/clinic/closures")
      ]).then(function (results) {
        self.clinic = {
          profile: (results[0] && results[0].profile) || {},
          providers: itemsOf(results[1]),
          treatments: itemsOf(results[2]),
          closures: itemsOf(results[3])
        };
        self.paint();
        self.fillProfile();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      if (!this.clinic) {
        return;
      }
      this.paintProviders();
      this.paintTreatments();
      this.paintClosures();
    },
    /* A change through the set-up API, then everything reloaded (hours depend on providers). */
    change: function (target, method, path, body, done) {
      var self = this;
      status(target, t("saving"));
      return api(method, path, body).then(function () {
        status(target, t("saved"));
        if (done) {
          done();
        }
        return self.load();
      }, function (error) {
        showError(target, error);
      });
    },
    paintProviders: function () {
      var self = this;
      var list = this.nodes.providerList;
      var chosen = this.nodes.hoursProvider.value;
      list.textContent = "";
      this.nodes.hoursProvider.textContent = "";
      this.clinic.providers.forEach(function (provider) {
        self.nodes.hoursProvider.appendChild(option(provider.id, personName(provider)));
        var row = element("li", "setup-row");
        row.dataset.id = provider.id;
        row.appendChild(element("bdi", "setup-row__name", personName(provider)));
        row.appendChild(element("span", "muted", t("provider_role_" + provider.role) ||
          provider.role));
        if (provider.active === false) {
          row.appendChild(badge("inactive", "grey"));
        }
        var toggle = button(provider.active === false ? "activate" : "deactivate", "text-button");
        toggle.addEventListener("click", function () {
          self.change(self.nodes.providersStatus, "PATCH",
            "/clinic/providers/" + encodeURIComponent(provider.id),
            { active: provider.active === false });
        });
        row.appendChild(toggle);
        list.appendChild(row);
      });
      if (chosen) {
        this.nodes.hoursProvider.value = chosen;
      }
      this.paintHours();
    },
    paintHours: function () {
      var self = this;
      var id = this.nodes.hoursProvider.value;
      var provider = this.clinic.providers.filter(function (item) {
        return String(item.id) === id;
      })[0];
      this.nodes.hoursRows.textContent = "";
      if (!provider) {
        return;
      }
      windowsOf(provider).sort(function (a, b) {
        return WEEKDAYS.indexOf(a.weekday) - WEEKDAYS.indexOf(b.weekday) ||
          (a.starts < b.starts ? -1 : 1);
      }).forEach(function (window) {
        self.addHoursRow(window);
      });
    },
    addHoursRow: function (window) {
      var row = element("li", "hours-row");
      var day = element("select", "hours-row__day");
      day.setAttribute("aria-label", t("weekday_label"));
      day.setAttribute("data-label", "weekday_label");
      WEEKDAYS.forEach(function (weekday) {
        var node = option(weekday, t("weekday_" + weekday));
        node.setAttribute("data-text", "weekday_" + weekday);
        day.appendChild(node);
      });
      day.value = String(window.weekday);
      var starts = input("time", null, { step: "300" });
      starts.className = "hours-row__starts";
      starts.value = window.starts;
      starts.setAttribute("aria-label", t("starts_label"));
      starts.setAttribute("data-label", "starts_label");
      var ends = input("time", null, { step: "300" });
      ends.className = "hours-row__ends";
      ends.value = window.ends;
      ends.setAttribute("aria-label", t("ends_label"));
      ends.setAttribute("data-label", "ends_label");
      var remove = button("remove", "text-button text-button--danger");
      remove.addEventListener("click", function () {
        row.remove();
      });
      row.appendChild(day);
      row.appendChild(starts);
      row.appendChild(ends);
      row.appendChild(remove);
      this.nodes.hoursRows.appendChild(row);
    },
    saveHours: function () {
      var nodes = this.nodes;
      var windows = [];
      var bad = false;
      Array.prototype.forEach.call(nodes.hoursRows.children, function (row) {
        var starts = row.querySelector(".hours-row__starts").value;
        var ends = row.querySelector(".hours-row__ends").value;
        if (!starts || !ends || starts >= ends) {
          bad = true;
        }
        windows.push({
          weekday: +row.querySelector(".hours-row__day").value, starts: starts, ends: ends
        });
      });
      if (bad) {
        showError(nodes.hoursStatus, t("hours_invalid"));
        return;
      }
      this.change(nodes.hoursStatus, "PUT",
        "/clinic/providers/" + encodeURIComponent(nodes.hoursProvider.value) + "/hours",
        { windows: windows });
    },
    paintTreatments: function () {
      var self = this;
      var list = this.nodes.treatmentList;
      list.textContent = "";
      this.clinic.treatments.forEach(function (treatment) {
        var row = element("li", "setup-row");
        row.dataset.code = treatment.code;
        row.appendChild(element("bdi", "setup-row__name", personName(treatment)));
        var code = element("code", "muted", treatment.code);
        row.appendChild(code);
        row.appendChild(element("span", "muted", fill(t("minutes"),
          { minutes: treatment.duration_minutes })));
        var edit = button("edit", "text-button");
        edit.addEventListener("click", function () {
          var nodes = self.nodes;
          nodes.treatmentCode.value = treatment.code;
          nodes.treatmentCode.readOnly = true;
          nodes.treatmentName.value = treatment.name;
          nodes.treatmentNameHe.value = treatment.name_he;
          nodes.treatmentMinutes.value = treatment.duration_minutes;
          nodes.treatmentPrice.value = treatment.price === undefined ? "" : treatment.price;
          nodes.treatmentName.focus();
        });
        var remove = button("remove", "text-button text-button--danger");
        remove.addEventListener("click", function () {
          if (window.confirm(fill(t("remove_confirm"), { name: personName(treatment) }))) {
            self.change(self.nodes.treatmentsStatus, "DELETE",
              "/clinic/treatments/" + encodeURIComponent(treatment.code));
          }
        });
        row.appendChild(edit);
        row.appendChild(remove);
        list.appendChild(row);
      });
    },
    saveTreatment: function () {
      var nodes = this.nodes;
      var editing = nodes.treatmentCode.readOnly;
      var body = {
        name: nodes.treatmentName.value.trim(),
        name_he: nodes.treatmentNameHe.value.trim(),
        duration_minutes: +nodes.treatmentMinutes.value
      };
      if (nodes.treatmentPrice.value !== "") {
        body.price = nodes.treatmentPrice.value;
      }
      var done = function () {
        nodes.treatmentCode.readOnly = false;
        nodes.treatmentCode.form.reset();
      };
      if (editing) {
        this.change(nodes.treatmentsStatus, "PATCH",
          "/clinic/treatments/" + encodeURIComponent(nodes.treatmentCode.value), body, done);
      } else {
        body.code = nodes.treatmentCode.value.trim();
        if (body.price === undefined) {
          body.price = "0";
        }
        this.change(nodes.treatmentsStatus, "POST", "/clinic/treatments", body, done);
      }
    },
    paintClosures: function () {
      var self = this;
      var list = this.nodes.closureList;
      list.textContent = "";
      if (!this.clinic.closures.length) {
        emptyRow(list, "no_closures");
      }
      this.clinic.closures.forEach(function (closure) {
        var row = element("li", "setup-row");
        row.appendChild(element("span", "setup-row__name", formatDay(closure.day)));
        row.appendChild(element("bdi", "muted", closure.reason || ""));
        var remove = button("remove", "text-button text-button--danger");
        remove.addEventListener("click", function () {
          self.change(self.nodes.closuresStatus, "DELETE",
            "/clinic/closures/" + encodeURIComponent(closure.day));
        });
        row.appendChild(remove);
        list.appendChild(row);
      });
    },
    fillProfile: function () {
      var profile = this.clinic.profile;
      var inputs = this.nodes.profileInputs;
      Object.keys(inputs).forEach(function (name) {
        var value = profileValue(profile, name);
        inputs[name].value = value === undefined || value === null ? "" : value;
      });
    },
    saveProfile: function () {
      var inputs = this.nodes.profileInputs;
      var body = {};
      Object.keys(inputs).forEach(function (name) {
        var value = inputs[name].value.trim();
        if (inputs[name].type === "number") {
          if (value !== "") {
            body[name] = +value;
          }
        } else {
          body[name] = value;
        }
      });
      this.change(this.nodes.profileStatus, "PUT", "/clinic/profile", body);
    },
    reset: function () {
      this.clinic = null;
    }
  });

  // ---- Operations: figures, undelivered messages, dead letters, memory patterns ----

  sections.operations = section({
    data: null,
    build: function (body) {
      var self = this;
      var controls = element("div", "toolbar");
      var hours = element("select");
      hours.id = "figures-hours";
      [24, 72, 168].forEach(function (value) {
        var node = option(value, fill(t("last_hours"), { hours: value }));
        hours.appendChild(node);
      });
      controls.appendChild(field("period_label", hours));
      hours.addEventListener("change", function () {
        self.load();
      });
      var charts = element("div", "charts");
      charts.id = "figures";
      var lists = element("div", "operations-lists");
      var make = function (id, key) {
        var box = element("section", "card");
        box.appendChild(labelled("h2", "card__heading", key));
        var list = element("ul", "list");
        list.id = id;
        box.appendChild(list);
        lists.appendChild(box);
        return list;
      };
      body.appendChild(controls);
      body.appendChild(charts);
      body.appendChild(lists);
      this.nodes = {
        hours: hours, charts: charts,
        deliveries: make("deliveries", "deliveries_heading"),
        deadLetters: make("dead-letters", "dead_letters_heading"),
        patterns: make("memory-patterns", "memory_patterns_heading")
      };
    },
    load: function () {
      var self = this;
      return Promise.all([
        api("GET", "/figures" + query({ hours: this.nodes.hours.value })),
        api("GET", "/deliveries" + query({ limit: 50 })),
        api("GET", "/dead-letters" + query({ limit: 50 })),
        api("GET", "/memory-patterns")
      ]).then(function (results) {
        self.data = {
          figures: results[0], deliveries: itemsOf(results[1]),
          deadLetters: itemsOf(results[2]), patterns: itemsOf(results[3])
        };
        self.paint();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      var data = this.data;
      var nodes = this.nodes;
      Array.prototype.forEach.call(nodes.hours.options, function (node) {
        node.textContent = fill(t("last_hours"), { hours: node.value });
      });
      if (!data) {
        return;
      }
      nodes.charts.textContent = "";
      var figures = data.figures || {};
      var hourLabels = (figures.hours || []).map(function (iso) {
        return formatWith(iso, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      });
      // Counts are whole, but an axis for at most one a hour is marked at 0.5 too.
      var whole = function (value) {
        return Number.isInteger(value) ? String(value) : value.toFixed(1);
      };
      var millis = function (value) {
        return value >= 1000 ? (value / 1000).toFixed(1) + " s" : whole(value) + " ms";
      };
      var plot = window.StaffCharts.plot;
      plot(nodes.charts, { title: t("figure_conversations"), labels: hourLabels, format: whole,
        series: [{ name: t("figure_conversations"), values: figures.conversations || [],
          kind: "bar" }] });
      plot(nodes.charts, { title: t("figure_escalations"), labels: hourLabels, format: whole,
        series: [{ name: t("figure_escalations"), values: figures.escalations || [],
          kind: "bar" }] });
      plot(nodes.charts, { title: t("figure_latency"), labels: hourLabels, format: millis,
        series: [
          { name: t("figure_p50"), values: figures.reply_latency_p50_ms || [], kind: "line" },
          { name: t("figure_p95"), values: figures.reply_latency_p95_ms || [], kind: "line" }
        ] });
      plot(nodes.charts, { title: t("figure_bookings"), labels: hourLabels, format: whole,
        series: [{ name: t("figure_bookings"), values: figures.bookings_by_assistant || [],
          kind: "bar" }] });

      var rows = function (list, items, emptyKey, describe) {
        list.textContent = "";
        if (!items.length) {
          emptyRow(list, emptyKey);
        }
        items.forEach(function (item) {
          var row = element("li", "setup-row");
          describe(item).forEach(function (part) {
            row.appendChild(part);
          });
          list.appendChild(row);
        });
      };
      rows(nodes.deliveries, data.deliveries, "no_deliveries", function (item) {
        var open = element("button", "text-button", fill(t("open_conversation"),
          { id: item.conversation_id }));
        open.type = "button";
        open.addEventListener("click", function () {
          showSection("conversations");
          sections.conversations.show(item.conversation_id);
        });
        return [
          element("span", null, formatDateTime(item.at)),
          badge("channel_" + item.channel, "grey"),
          element("bdi", "muted", item.author || t(ROLES[item.role] || "role_assistant")),
          open
        ];
      });
      rows(nodes.deadLetters, data.deadLetters, "no_dead_letters", function (item) {
        return [
          element("span", null, formatDateTime(item.received_at)),
          element("code", "muted", String(item.update_id)),
          element("span", "muted", fill(t("attempts"), { count: item.attempts })),
          element("span", "setup-row__detail", item.error || "")
        ];
      });
      rows(nodes.patterns, data.patterns, "no_patterns", function (item) {
        return [
          element("code", null, String(item.id)),
          element("span", "setup-row__detail", item.description || ""),
          element("span", "muted", fill(t("message_count"), { count: item.messages }))
        ];
      });
    },
    reset: function () {
      this.data = null;
    }
  });

  // ---- Audit (admin) ----

  sections.audit = section({
    items: [],
    build: function (body) {
      var self = this;
      var form = element("form", "toolbar");
      form.id = "audit-filters";
      var nodes = {
        actor: input("number", "audit-actor", { min: "1" }),
        patient: input("number", "audit-patient", { min: "1" }),
        action: input("text", "audit-action", { dir: "ltr" }),
        since: input("date", "audit-since"),
        until: input("date", "audit-until")
      };
      form.appendChild(field("audit_actor", nodes.actor));
      form.appendChild(field("audit_patient", nodes.patient));
      form.appendChild(field("audit_action", nodes.action));
      form.appendChild(field("audit_since", nodes.since));
      form.appendChild(field("audit_until", nodes.until));
      var apply = labelled("button", "primary-button", "apply_filters");
      apply.type = "submit";
      form.appendChild(apply);
      var list = element("ul", "list audit-list");
      list.id = "audit-list";
      var more = button("older", "secondary-button", "audit-more");
      more.hidden = true;
      body.appendChild(form);
      body.appendChild(list);
      body.appendChild(more);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.load();
      });
      more.addEventListener("click", function () {
        self.load(self.items[self.items.length - 1].id);
      });
      nodes.list = list;
      nodes.more = more;
      this.nodes = nodes;
    },
    load: function (before) {
      var self = this;
      var nodes = this.nodes;
      return api("GET", "/audit" + query({
        actor_id: nodes.actor.value, patient_id: nodes.patient.value,
        action: nodes.action.value.trim(),
        since: nodes.since.value ? nodes.since.value + "T00:00:00" : "",
        until: nodes.until.value ? addDays(nodes.until.value, 1) + "T00:00:00" : "",
        before: before, limit: 100
      })).then(function (data) {
        var items = itemsOf(data);
        self.items = before ? self.items.concat(items) : items;
        nodes.more.hidden = items.length < 100;
        self.paint();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      var list = this.nodes.list;
      list.textContent = "";
      if (!this.items.length) {
        emptyRow(list, "no_audit");
      }
      this.items.forEach(function (item) {
        var row = element("li", "audit-row");
        row.appendChild(element("span", "audit-row__at", formatDateTime(item.at)));
        row.appendChild(element("code", "audit-row__action", item.action));
        row.appendChild(element("bdi", null, item.actor_email || ""));
        row.appendChild(element("span", "muted", item.actor_role || ""));
        if (item.patient_id !== null && item.patient_id !== undefined) {
          row.appendChild(element("span", "muted", fill(t("patient_number"),
            { id: item.patient_id })));
        }
        if (item.subject) {
          row.appendChild(element("span", "muted", item.subject));
        }
        if (item.reason) {
          row.appendChild(element("bdi", "audit-row__reason", item.reason));
        }
        list.appendChild(row);
      });
    },
    reset: function () {
      this.items = [];
    }
  });

  // ---- Users (admin) ----

  sections.users = section({
    items: [],
    build: function (body) {
      var self = this;
      var list = element("ul", "list");
      list.id = "user-list";
      var form = element("form", "inline-form");
      form.id = "user-add";
      var nodes = {
        list: list,
        email: input("email", "user-email", { required: "", dir: "ltr" }),
        name: input("text", "user-name-input", { required: "" }),
        role: element("select")
      };
      nodes.role.id = "user-role";
      ["receptionist", "doctor", "admin"].forEach(function (role) {
        var node = option(role, t("staff_role_" + role));
        node.setAttribute("data-text", "staff_role_" + role);
        nodes.role.appendChild(node);
      });
      form.appendChild(field("email_label", nodes.email));
      form.appendChild(field("user_name_label", nodes.name));
      form.appendChild(field("staff_role_label", nodes.role));
      var add = labelled("button", "primary-button", "add_user");
      add.type = "submit";
      form.appendChild(add);
      nodes.status = element("p", "panel__status");
      nodes.status.id = "user-status";
      nodes.status.setAttribute("role", "status");
      nodes.status.hidden = true;
      body.appendChild(list);
      body.appendChild(form);
      body.appendChild(nodes.status);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.run(api("POST", "/users", {
          email: nodes.email.value.trim(), name: nodes.name.value.trim(), role: nodes.role.value
        }), function () {
          form.reset();
        });
      });
      this.nodes = nodes;
    },
    /* A change to an account; a generated password is shown once, here, and nowhere else. */
    run: function (request, done) {
      var self = this;
      var target = this.nodes.status;
      status(target, t("saving"));
      return request.then(function (data) {
        var password = data && (data.password || (data.user && data.user.password));
        status(target, password ? fill(t("password_once"), { password: password }) : t("saved"));
        if (done) {
          done();
        }
        return self.load();
      }, function (error) {
        showError(target, error);
      });
    },
    load: function () {
      var self = this;
      return api("GET", "/users").then(function (data) {
        self.items = itemsOf(data);
        self.paint();
      }, function (error) {
        showError(pageError, error);
      });
    },
    paint: function () {
      var self = this;
      var list = this.nodes.list;
      list.textContent = "";
      this.items.forEach(function (user) {
        var row = element("li", "setup-row");
        row.dataset.id = user.id;
        row.appendChild(element("bdi", "setup-row__name", user.name));
        row.appendChild(element("span", "muted", user.email));
        row.appendChild(element("span", "badge badge--grey", t("staff_role_" + user.role) ||
          user.role));
        var disabled = user.disabled === true || user.active === false;
        if (disabled) {
          row.appendChild(badge("inactive", "grey"));
        } else if (!session.me || user.id !== session.me.id) {
          var disable = button("disable_user", "text-button text-button--danger");
          disable.addEventListener("click", function () {
            if (window.confirm(fill(t("disable_confirm"), { name: user.name }))) {
              self.run(api("POST", "/users/" + encodeURIComponent(user.id) + "/disable"));
            }
          });
          row.appendChild(disable);
        }
        var reset = button("reset_password", "text-button");
        reset.addEventListener("click", function () {
          if (window.confirm(fill(t("reset_confirm"), { name: user.name }))) {
            self.run(api("POST", "/users/" + encodeURIComponent(user.id) + "/reset"));
          }
        });
        row.appendChild(reset);
        list.appendChild(row);
      });
    },
    reset: function () {
      this.items = [];
      if (this.nodes) {
        status(this.nodes.status, "");
      }
    }
  });

  // ---- start ----

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
})();
