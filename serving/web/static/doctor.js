/*
 * The doctor chat page: an on-call dentist's view of one escalated conversation, opened from the
 * private link /doctor/<token>. Everything comes from /api/v1/doctor/<token> (data-api-url):
 * the escalation, the patient, the messages; replies, hand-back and bookings go back to it, and
 * new messages arrive on its event stream.
 *
 * - Text from the patient, the assistant or a dentist is only ever set with textContent.
 * - A 404 or 410 from the API means the link is no longer usable: the page drops what it showed
 *   of the patient, says why, and stops talking to the server.
 * - The language toggle changes only the page's labels; messages stay as written.
 */
(function () {
  "use strict";

  var element = window.DentalText.element;
  var fillText = window.DentalText.fillText;

  var LANGUAGES = ["he", "en"];
  var REQUEST_TIMEOUT_MS = 30000;
  var MAX_REPLY_CHARS = 4000;
  var FIRST_RETRY_MS = 1000;
  var LONGEST_RETRY_MS = 15000;

  var root = document.getElementById("doctor");
  var pageText = JSON.parse(document.getElementById("page-text").textContent);
  var labels = pageText.labels;
  var linkStates = pageText.link_states;
  var apiUrl = root.dataset.apiUrl;
  var uiLanguage = root.dataset.language;
  var requestedLanguage = asLanguage(new URLSearchParams(window.location.search).get("lang"));

  var byId = function (id) {
    return document.getElementById(id);
  };
  var loading = byId("loading");
  var workspace = byId("workspace");
  var doctorName = byId("doctor-name");
  var languageToggle = byId("language-toggle");
  var urgencyBadge = byId("urgency-badge");
  var statusBadge = byId("status-badge");
  var openedAt = byId("opened-at");
  var summary = byId("summary");
  var handBackButton = byId("hand-back");
  var actionError = byId("action-error");
  var patientBody = byId("patient-body");
  var streamStatus = byId("stream-status");
  var messagesBox = byId("messages");
  var emptyHint = byId("empty-hint");
  var closedNotice = byId("closed-notice");
  var composer = byId("composer");
  var input = byId("reply-input");
  var sendButton = byId("send-button");
  var sendLabel = byId("send-label");
  var sendError = byId("send-error");
  var sendErrorText = byId("send-error-text");
  var retryButton = byId("retry-button");
  var booking = byId("booking");
  var bookingUnavailable = byId("booking-unavailable");
  var slotSearch = byId("slot-search");
  var treatmentSelect = byId("treatment");
  var providerSelect = byId("provider");
  var dateInput = byId("slot-date");
  var movingBox = byId("moving");
  var movingText = byId("moving-text");
  var stopMovingButton = byId("stop-moving");
  var bookingStatus = byId("booking-status");
  var slotList = byId("slots");

  var URGENCY_LABELS = {
    EMERGENCY: "urgency_emergency",
    DOCTOR_REQUIRED: "urgency_doctor_required",
    ROUTINE: "urgency_routine"
  };
  var STATUS_LABELS = { open: "status_open", claimed: "status_claimed", closed: "status_closed" };
  var ROLE_LABELS = {
    patient: "role_patient",
    assistant: "role_assistant",
    doctor: "role_doctor",
    staff: "role_staff"
  };
  var DELIVERY_LABELS = { sent: "delivery_sent", failed: "delivery_failed" };
  var SEVERITY_LABELS = {
    mild: "severity_mild",
    moderate: "severity_moderate",
    severe: "severity_severe"
  };
  var CHANNEL_LABELS = { telegram: "channel_telegram", web: "channel_web" };
  var LANGUAGE_LABELS = { he: "language_he", en: "language_en" };

  /* A request that found the link unusable: the page has already said so, nothing else to do. */
  var STOPPED = { stopped: true };

  var state = {
    escalation: null,
    doctor: null,
    patient: null,
    treatments: [],
    providers: [],
    messages: [],
    lastMessageId: null,
    closed: false,
    stopped: false
  };
  var sending = false;
  var moving = null;
  var lastSlots = [];
  var stream = null;
  var reconnectTimer = null;
  var retryDelay = FIRST_RETRY_MS;

  // ---- labels and language ----

  function t(key, language) {
    var catalog = labels[language || uiLanguage] || labels.en;
    return catalog[key];
  }

  /* A label with its {placeholders} filled in. */
  function fill(template, values) {
    return template.replace(/\{([a-z_]+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  /* "he" or "en" from a language tag ("he-IL", "iw", "EN"), as the server reads ?lang=. */
  function asLanguage(tag) {
    var primary = String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
    return primary === "iw" ? "he" : LANGUAGES.indexOf(primary) >= 0 ? primary : null;
  }

  function applyUiLanguage(language) {
    uiLanguage = language;
    window.DentalText.relabel(language, t);
    languageToggle.lang = language === "he" ? "en" : "he";
    if (sending) {
      sendLabel.textContent = t("sending");
    }
    renderAll();
  }

  function toggleUiLanguage() {
    var next = LANGUAGES[(LANGUAGES.indexOf(uiLanguage) + 1) % LANGUAGES.length];
    requestedLanguage = next;
    applyUiLanguage(next);
    window.DentalText.keepLanguageInUrl(next);
  }

  // ---- times: as the clinic wrote them (the offset in the ISO string), in the page's language

  function formatDateTime(iso) {
    return window.DentalText.formatDateTime(iso, uiLanguage);
  }

  function formatClock(iso) {
    return window.DentalText.formatClock(iso, uiLanguage);
  }

  function todayIso() {
    var now = new Date();
    var pad = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
  }

  /* A message's time: the hour today, the day and hour otherwise. */
  function formatMessageTime(iso) {
    return String(iso || "").slice(0, 10) === todayIso() ? formatClock(iso) : formatDateTime(iso);
  }

  // ---- building nodes (textContent only) ----


  /* A UI label that follows the language toggle. */
  function uiLabel(tag, className, key) {
    var node = element(tag, className, t(key));
    node.dataset.text = key;
    return node;
  }

  function timeElement(iso, text) {
    var node = element("time", "", text);
    node.dateTime = String(iso || "");
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  // ---- the header: urgency, status, when, summary ----

  function renderEscalation() {
    var escalation = state.escalation;
    if (!escalation) {
      return;
    }
    var urgency = URGENCY_LABELS[escalation.urgency] ? escalation.urgency : "ROUTINE";
    urgencyBadge.textContent = t(URGENCY_LABELS[urgency]);
    urgencyBadge.className = "badge badge--" + urgency.toLowerCase().replace("_", "-");
    urgencyBadge.setAttribute("role", urgency === "EMERGENCY" ? "alert" : "status");
    var status = state.closed ? "closed" : escalation.status;
    statusBadge.textContent = t(STATUS_LABELS[status] || "status_open");
    statusBadge.className = "status status--" + (STATUS_LABELS[status] ? status : "open");
    clear(openedAt);
    if (escalation.created_at) {
      var parts = t("opened_at").split("{time}");
      openedAt.appendChild(document.createTextNode(parts[0]));
      openedAt.appendChild(timeElement(escalation.created_at, formatDateTime(escalation.created_at)));
      openedAt.appendChild(document.createTextNode(parts.slice(1).join("{time}")));
    }
    summary.textContent = escalation.summary || "";
    summary.hidden = !escalation.summary;
    handBackButton.hidden = state.closed;
    if (state.doctor && state.doctor.name) {
      doctorName.textContent = fill(t("for_doctor"), { name: String(state.doctor.name) });
    }
  }

  // ---- the patient card ----

  function detailRow(labelKey, value) {
    var row = element("div", "detail");
    row.appendChild(uiLabel("dt", "detail__label", labelKey));
    var data = element("dd", "detail__value");
    if (typeof value === "string") {
      data.textContent = value;
    } else {
      data.appendChild(value);
    }
    row.appendChild(data);
    return row;
  }

  function renderAllergies(allergies) {
    var box = element("section", "allergies" + (allergies.length ? " allergies--present" : ""));
    box.setAttribute("aria-label", t("allergies_heading"));
    box.dataset.label = "allergies_heading";
    box.appendChild(uiLabel("h3", "allergies__heading", "allergies_heading"));
    if (!allergies.length) {
      box.appendChild(uiLabel("p", "allergies__none", "no_allergies"));
      return box;
    }
    var list = element("ul", "allergies__list");
    allergies.forEach(function (allergy) {
      var item = element("li", "allergy");
      var substance = element("strong", "allergy__substance", String(allergy.substance || ""));
      substance.dir = "auto";
      item.appendChild(substance);
      var severity = allergy.severity ? String(allergy.severity) : "";
      if (severity) {
        var severityKey = SEVERITY_LABELS[severity.toLowerCase()];
        var tag = element("span", "allergy__severity allergy__severity--" +
          (severityKey ? severity.toLowerCase() : "other"), severityKey ? t(severityKey) : severity);
        item.appendChild(tag);
      }
      if (allergy.reaction) {
        var reaction = element("span", "allergy__reaction", String(allergy.reaction));
        reaction.dir = "auto";
        item.appendChild(reaction);
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function appointmentDescription(appointment) {
    return [appointment.treatment, appointment.provider].filter(function (part) {
      return typeof part === "string" && part;
    }).join(" · ");
  }

  function renderAppointments(appointments, actionable) {
    var box = element("section", "appointments");
    box.appendChild(uiLabel("h3", "card__subheading", "appointments_heading"));
    if (!appointments.length) {
      box.appendChild(uiLabel("p", "muted", "no_appointments"));
      return box;
    }
    var list = element("ul", "appointments__list");
    appointments.forEach(function (appointment) {
      var item = element("li", "appointment");
      item.dataset.appointmentId = String(appointment.id);
      var when = element("p", "appointment__when");
      when.appendChild(timeElement(appointment.starts_at, formatDateTime(appointment.starts_at)));
      item.appendChild(when);
      var what = element("p", "appointment__what", appointmentDescription(appointment));
      what.dir = "auto";
      item.appendChild(what);
      if (actionable) {
        var actions = element("div", "appointment__actions");
        var move = uiLabel("button", "small-button", "move");
        move.type = "button";
        move.addEventListener("click", function () {
          startMoving(appointment);
        });
        var cancel = uiLabel("button", "small-button small-button--danger", "cancel_appointment");
        cancel.type = "button";
        cancel.addEventListener("click", function () {
          cancelAppointment(appointment);
        });
        actions.appendChild(move);
        actions.appendChild(cancel);
        item.appendChild(actions);
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function renderPatient() {
    var patient = state.patient;
    clear(patientBody);
    if (!patient) {
      return;
    }
    var name = patient.name
      ? element("h2", "patient__name", String(patient.name))
      : uiLabel("h2", "patient__name patient__name--unknown", "unidentified_patient");
    name.id = "patient-name";
    name.dir = "auto";
    patientBody.appendChild(name);

    // Allergies before anything else: the first thing a dentist must see.
    patientBody.appendChild(renderAllergies(Array.isArray(patient.allergies) ? patient.allergies : []));

    var details = element("dl", "details");
    var phone;
    if (patient.phone) {
      phone = element("a", "patient__phone");
      phone.href = "tel:" + String(patient.phone).replace(/[^\d+]/g, "");
      var number = element("bdi", "number", String(patient.phone));
      number.dir = "ltr";
      phone.appendChild(number);
    } else {
      phone = uiLabel("span", "muted", "no_phone");
    }
    details.appendChild(detailRow("phone_label", phone));
    var languageKey = LANGUAGE_LABELS[patient.language];
    details.appendChild(detailRow("language_label",
      languageKey ? t(languageKey) : String(patient.language || "")));
    var channelKey = CHANNEL_LABELS[patient.channel];
    details.appendChild(detailRow("channel_label",
      channelKey ? t(channelKey) : String(patient.channel || "")));
    patientBody.appendChild(details);

    var appointments = Array.isArray(patient.appointments) ? patient.appointments : [];
    patientBody.appendChild(renderAppointments(appointments, canBook()));
  }

  // ---- the conversation ----

  function renderDelivery(message) {
    var known = Boolean(DELIVERY_LABELS[message.delivery]);
    var modifier = known ? message.delivery : "pending";
    var key = known ? DELIVERY_LABELS[message.delivery] : "delivery_pending";
    return uiLabel("p", "message__delivery message__delivery--" + modifier, key);
  }

  function renderMessage(message) {
    var role = ROLE_LABELS[message.role] ? message.role : "assistant";
    var node = element("article", "message message--" + role);
    node.dataset.messageId = String(message.id);
    var meta = element("p", "message__meta");
    // A dentist's or a staff member's message shows who wrote it (the staff console writes
    // in the same conversation as the clinic, role "staff").
    var author = (role === "doctor" || role === "staff") && message.author
      ? element("span", "message__author", String(message.author))
      : uiLabel("span", "message__author", ROLE_LABELS[role]);
    author.dir = "auto";
    meta.appendChild(author);
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(timeElement(message.created_at, formatMessageTime(message.created_at)));
    node.appendChild(meta);
    var bubble = element("div", "bubble");
    fillText(bubble, typeof message.text === "string" ? message.text : "");
    node.appendChild(bubble);
    if (role === "doctor") {
      if (message.delivery === "failed") {
        node.classList.add("message--failed");
      }
      node.appendChild(renderDelivery(message));
    }
    return node;
  }

  function nearBottom() {
    return messagesBox.scrollHeight - messagesBox.scrollTop - messagesBox.clientHeight < 80;
  }

  function scrollToEnd() {
    messagesBox.scrollTop = messagesBox.scrollHeight;
  }

  function renderMessages() {
    Array.prototype.forEach.call(messagesBox.querySelectorAll(".message"), function (node) {
      node.remove();
    });
    state.messages.forEach(function (message) {
      messagesBox.appendChild(renderMessage(message));
    });
    emptyHint.hidden = state.messages.length > 0;
    scrollToEnd();
  }

  function isMessage(value) {
    return value && typeof value === "object" && typeof value.id === "number" &&
      typeof value.role === "string";
  }

  /* Add a message, or update the one with its id (the stream repeats what a POST returned). */
  function upsertMessage(message) {
    if (!isMessage(message)) {
      return;
    }
    var existing = messagesBox.querySelector('[data-message-id="' + message.id + '"]');
    var index = state.messages.findIndex(function (known) {
      return known.id === message.id;
    });
    if (index >= 0) {
      state.messages[index] = message;
      if (existing) {
        existing.replaceWith(renderMessage(message));
      }
      return;
    }
    var follow = nearBottom();
    state.messages.push(message);
    state.messages.sort(function (a, b) {
      return a.id - b.id;
    });
    var next = state.messages[state.messages.indexOf(message) + 1];
    var nextNode = next && messagesBox.querySelector('[data-message-id="' + next.id + '"]');
    messagesBox.insertBefore(renderMessage(message), nextNode || null);
    emptyHint.hidden = true;
    if (state.lastMessageId === null || message.id > state.lastMessageId) {
      state.lastMessageId = message.id;
    }
    if (follow || message.role === "doctor") {
      scrollToEnd();
    }
  }

  function updateDelivery(update) {
    if (!update || typeof update.message_id !== "number") {
      return;
    }
    var message = state.messages.find(function (known) {
      return known.id === update.message_id;
    });
    if (message) {
      var changed = Object.assign({}, message, { delivery: update.delivery });
      upsertMessage(changed);
    }
  }

  // ---- talking to the API ----

  function readJson(response) {
    return response.json().catch(function () {
      return null;
    });
  }

  /* 410, or a 404 about the link itself (not, say, an appointment that is gone). */
  function linkUnusable(response, body) {
    if (response.status === 410) {
      return true;
    }
    return response.status === 404 && (!body || !body.error || body.error === "link_not_found");
  }

  function request(method, path, payload) {
    if (state.stopped) {
      return Promise.reject(STOPPED);
    }
    var controller = new AbortController();
    var timer = window.setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var options = {
      method: method,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      signal: controller.signal
    };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(apiUrl + path, options)
      .then(function (response) {
        return readJson(response).then(function (body) {
          if (linkUnusable(response, body)) {
            stopWithNotice(body && body.error, response.status);
            throw STOPPED;
          }
          return { response: response, body: body };
        });
      })
      .finally(function () {
        window.clearTimeout(timer);
      });
  }

  /* What went wrong, in words: the server's own message for a client error, else ours. */
  function failureText(result) {
    if (!result) {
      return t("error_network");
    }
    var body = result.body;
    if (result.response.status >= 400 && result.response.status < 500 &&
        body && typeof body.message === "string" && body.message) {
      return body.message;
    }
    return t("error_server");
  }

  /* The GET of the whole conversation: on load, after each booking change, after a drop. */
  function load() {
    return request("GET", "").then(function (result) {
      if (!result.response.ok || !result.body || !result.body.escalation) {
        throw result;
      }
      var body = result.body;
      state.escalation = body.escalation;
      state.doctor = body.doctor || null;
      state.patient = body.patient || null;
      state.treatments = Array.isArray(body.treatments) ? body.treatments : [];
      state.providers = Array.isArray(body.providers) ? body.providers : [];
      (Array.isArray(body.messages) ? body.messages : []).forEach(upsertMessage);
      if (body.escalation.status === "closed") {
        state.closed = true;
      }
      return body;
    });
  }

  // ---- the live event stream ----

  function parseData(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  function closeStream() {
    if (stream) {
      stream.close();
      stream = null;
    }
    if (reconnectTimer) {
      window.clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
  }

  function openStream() {
    closeStream();
    if (state.stopped || state.closed || !window.EventSource) {
      return;
    }
    // ?after= the newest message we have, so a reconnect brings exactly what was missed.
    var after = state.lastMessageId === null ? "" : "?after=" + encodeURIComponent(state.lastMessageId);
    stream = new EventSource(apiUrl + "/events" + after);
    stream.addEventListener("open", function () {
      retryDelay = FIRST_RETRY_MS;
      streamStatus.hidden = true;
    });
    stream.addEventListener("message", function (event) {
      upsertMessage(parseData(event));
    });
    stream.addEventListener("delivery", function (event) {
      updateDelivery(parseData(event));
    });
    stream.addEventListener("escalation", function (event) {
      var change = parseData(event);
      if (!change || !state.escalation) {
        return;
      }
      if (typeof change.urgency === "string") {
        state.escalation.urgency = change.urgency;
      }
      if (typeof change.status === "string") {
        state.escalation.status = change.status;
      }
      if (change.status === "closed") {
        showClosed();
      } else {
        renderEscalation();
      }
    });
    stream.addEventListener("closed", function () {
      if (state.escalation) {
        state.escalation.status = "closed";
      }
      showClosed();
    });
    stream.onerror = function () {
      // The browser would retry with the URL it started with; retry ourselves with ?after= the
      // newest message, after asking the API whether the link still works (the stream cannot
      // tell a 410 from a network drop).
      closeStream();
      if (state.stopped || state.closed) {
        return;
      }
      streamStatus.hidden = false;
      reconnectTimer = window.setTimeout(reconnect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
    };
  }

  function reconnect() {
    reconnectTimer = null;
    load()
      .then(function () {
        renderAll();
        openStream();
      })
      .catch(function (error) {
        if (error === STOPPED || state.stopped) {
          return;
        }
        reconnectTimer = window.setTimeout(reconnect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
      });
  }

  // ---- the link no longer works; the conversation is closed ----

  function stopWithNotice(error, status) {
    if (state.stopped) {
      return;
    }
    state.stopped = true;
    closeStream();
    var code = linkStates.en[error] ? error : status === 404 ? "link_not_found" : "link_expired";
    // What the page showed of the patient goes: the link no longer grants it.
    clear(patientBody);
    Array.prototype.forEach.call(messagesBox.querySelectorAll(".message"), function (node) {
      node.remove();
    });
    clear(slotList);
    state.patient = null;
    state.messages = [];
    workspace.remove();
    loading.hidden = true;
    doctorName.textContent = "";
    var notice = byId("link-notice");
    notice.dataset.state = code;
    renderLinkNotice();
    notice.hidden = false;
    root.dataset.ready = "true";
  }

  function renderLinkNotice() {
    var notice = byId("link-notice");
    var code = notice.dataset.state;
    if (!code) {
      return;
    }
    var text = (linkStates[uiLanguage] || linkStates.en)[code];
    byId("link-notice-title").textContent = text.title;
    byId("link-notice-advice").textContent = text.advice;
    document.title = text.title;
  }

  function showClosed() {
    state.closed = true;
    closeStream();
    streamStatus.hidden = true;
    renderAll();
  }

  // ---- replying ----

  function setSending(value) {
    sending = value;
    sendButton.disabled = value;
    input.readOnly = value;
    composer.setAttribute("aria-busy", String(value));
    sendLabel.textContent = t(value ? "sending" : "send");
  }

  function showSendError(text) {
    sendErrorText.textContent = text;
    sendError.hidden = false;
  }

  function sendReply() {
    var text = input.value.trim();
    if (!text || sending || state.closed || state.stopped) {
      return;
    }
    if (text.length > MAX_REPLY_CHARS) {
      showSendError(t("error_too_long"));
      return;
    }
    sendError.hidden = true;
    setSending(true);
    request("POST", "/messages", { text: text })
      .then(function (result) {
        var body = result.body;
        if (result.response.status === 201 && body && isMessage(body.message)) {
          var message = body.message;
          if (body.delivered === false && !message.delivery) {
            message = Object.assign({}, message, { delivery: "failed" });
          }
          input.value = "";
          resizeInput();
          upsertMessage(message);
          return;
        }
        showSendError(failureText(result));
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          showSendError(t("error_network"));
        }
      })
      .finally(function () {
        if (!state.stopped) {
          setSending(false);
          if (!state.closed) {
            input.focus();
          }
        }
      });
  }

  function resizeInput() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }

  /* Enter sends where there is a keyboard; on a phone it is a new line and Send sends. */
  function enterSends() {
    return !(window.matchMedia && window.matchMedia("(pointer: coarse)").matches);
  }

  // ---- handing back to the assistant ----

  function handBack() {
    if (state.closed || state.stopped || !window.confirm(t("hand_back_confirm"))) {
      return;
    }
    handBackButton.disabled = true;
    actionError.hidden = true;
    request("POST", "/close")
      .then(function (result) {
        if (result.response.ok) {
          if (state.escalation) {
            state.escalation.status = "closed";
          }
          showClosed();
          return;
        }
        actionError.textContent = failureText(result);
        actionError.hidden = false;
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          actionError.textContent = t("error_network");
          actionError.hidden = false;
        }
      })
      .finally(function () {
        handBackButton.disabled = false;
      });
  }

  // ---- booking: find free times, book, move, cancel ----

  function canBook() {
    return Boolean(state.patient && state.patient.id !== null && state.patient.id !== undefined &&
      !state.closed);
  }

  function fillSelect(select, options, keepFirst) {
    var chosen = select.value;
    while (select.options.length > (keepFirst ? 1 : 0)) {
      select.remove(keepFirst ? 1 : 0);
    }
    options.forEach(function (option) {
      var node = element("option", "", option.text);
      node.value = option.value;
      select.appendChild(node);
    });
    if (chosen && Array.prototype.some.call(select.options, function (o) {
      return o.value === chosen;
    })) {
      select.value = chosen;
    }
  }

  function renderBooking() {
    booking.hidden = state.closed;
    var identified = canBook();
    bookingUnavailable.hidden = identified || state.closed;
    slotSearch.hidden = !identified;
    if (!identified) {
      clear(slotList);
      bookingStatus.hidden = true;
      return;
    }
    fillSelect(treatmentSelect, state.treatments.map(function (treatment) {
      var minutes = treatment.duration_minutes
        ? " · " + fill(t("duration"), { minutes: String(treatment.duration_minutes) }) : "";
      return { value: String(treatment.code), text: String(treatment.name) + minutes };
    }), false);
    fillSelect(providerSelect, state.providers.map(function (provider) {
      return { value: String(provider.id), text: String(provider.name) };
    }), true);
    if (!dateInput.value) {
      dateInput.value = todayIso();
    }
    dateInput.min = todayIso();
    movingBox.hidden = !moving;
    treatmentSelect.disabled = Boolean(moving);
    if (moving) {
      treatmentSelect.value = String(moving.treatment_code);
      movingText.textContent = fill(t("moving"), {
        appointment: formatDateTime(moving.starts_at) + " · " + appointmentDescription(moving)
      });
    }
    renderSlots();
  }

  function showBookingStatus(text, isError) {
    bookingStatus.textContent = text;
    bookingStatus.className = "booking__status" + (isError ? " booking__status--error" : "");
    bookingStatus.hidden = !text;
  }

  function renderSlots() {
    clear(slotList);
    lastSlots.forEach(function (slot) {
      var item = element("li", "slot");
      var when = element("span", "slot__time");
      when.appendChild(timeElement(slot.starts_at, formatClock(slot.starts_at)));
      if (slot.ends_at) {
        when.appendChild(document.createTextNode("–"));
        when.appendChild(timeElement(slot.ends_at, formatClock(slot.ends_at)));
      }
      when.dir = "ltr";
      item.appendChild(when);
      var who = element("span", "slot__provider", slot.provider ? String(slot.provider) : "");
      who.dir = "auto";
      item.appendChild(who);
      var choose = uiLabel("button", "small-button small-button--primary", moving ? "move_here" : "book");
      choose.type = "button";
      choose.addEventListener("click", function () {
        takeSlot(slot);
      });
      item.appendChild(choose);
      slotList.appendChild(item);
    });
  }

  function setBookingBusy(value) {
    Array.prototype.forEach.call(booking.querySelectorAll("button, select, input"),
      function (control) {
        control.disabled = value || (control === treatmentSelect && Boolean(moving));
      });
    Array.prototype.forEach.call(patientBody.querySelectorAll(".appointment button"),
      function (control) {
        control.disabled = value;
      });
    booking.setAttribute("aria-busy", String(value));
  }

  function findSlots() {
    if (!canBook() || !treatmentSelect.value || !dateInput.value) {
      return Promise.resolve();
    }
    var query = "?treatment=" + encodeURIComponent(treatmentSelect.value) +
      "&date=" + encodeURIComponent(dateInput.value);
    if (providerSelect.value) {
      query += "&provider_id=" + encodeURIComponent(providerSelect.value);
    }
    showBookingStatus(t("searching"), false);
    setBookingBusy(true);
    return request("GET", "/slots" + query)
      .then(function (result) {
        if (result.response.ok && result.body && Array.isArray(result.body.slots)) {
          lastSlots = result.body.slots;
          renderSlots();
          showBookingStatus(lastSlots.length ? "" : t("no_slots"), false);
          return;
        }
        showBookingStatus(failureText(result), true);
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          showBookingStatus(t("error_network"), true);
        }
      })
      .finally(function () {
        if (!state.stopped) {
          setBookingBusy(false);
        }
      });
  }

  /* After a booking change: the patient card as the clinic now has it. */
  function refreshPatient(statusText) {
    lastSlots = [];
    return load()
      .then(function () {
        renderAll();
        showBookingStatus(statusText, false);
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          showBookingStatus(statusText, false);
        }
      });
  }

  function bookingFailed(result) {
    if (result && result.response.status === 409 && result.body &&
        result.body.error === "slot_taken") {
      var text = typeof result.body.message === "string" && result.body.message
        ? result.body.message : t("error_slot_taken");
      return findSlots().then(function () {
        showBookingStatus(text, true);
      });
    }
    showBookingStatus(failureText(result), true);
    return null;
  }

  function takeSlot(slot) {
    var appointment = moving;
    var path = appointment ? "/appointments/" + encodeURIComponent(appointment.id) + "/move"
      : "/appointments";
    var payload = appointment
      ? { starts_at: slot.starts_at, provider_id: slot.provider_id }
      : { treatment: treatmentSelect.value, starts_at: slot.starts_at, provider_id: slot.provider_id };
    setBookingBusy(true);
    request("POST", path, payload)
      .then(function (result) {
        var expected = appointment ? 200 : 201;
        if (result.response.status === expected && result.body && result.body.appointment) {
          var when = formatDateTime(result.body.appointment.starts_at || slot.starts_at);
          moving = null;
          return refreshPatient(fill(t(appointment ? "moved" : "booked"), { time: when }));
        }
        return bookingFailed(result);
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          showBookingStatus(t("error_network"), true);
        }
      })
      .finally(function () {
        if (!state.stopped) {
          setBookingBusy(false);
        }
      });
  }

  function startMoving(appointment) {
    moving = appointment;
    lastSlots = [];
    dateInput.value = String(appointment.starts_at || "").slice(0, 10) || todayIso();
    providerSelect.value = "";
    showBookingStatus("", false);
    renderBooking();
    booking.scrollIntoView({ behavior: "smooth", block: "start" });
    findSlots();
  }

  function stopMoving() {
    moving = null;
    lastSlots = [];
    showBookingStatus("", false);
    renderBooking();
  }

  function cancelAppointment(appointment) {
    var when = formatDateTime(appointment.starts_at);
    if (!window.confirm(fill(t("cancel_confirm"), { time: when }))) {
      return;
    }
    setBookingBusy(true);
    request("DELETE", "/appointments/" + encodeURIComponent(appointment.id))
      .then(function (result) {
        if (result.response.ok) {
          if (moving && moving.id === appointment.id) {
            moving = null;
          }
          return refreshPatient(fill(t("cancelled"), { time: when }));
        }
        showBookingStatus(failureText(result), true);
        return null;
      })
      .catch(function (error) {
        if (error !== STOPPED) {
          showBookingStatus(t("error_network"), true);
        }
      })
      .finally(function () {
        if (!state.stopped) {
          setBookingBusy(false);
        }
      });
  }

  // ---- the whole page from the state ----

  function renderAll() {
    if (state.stopped) {
      renderLinkNotice();
      return;
    }
    if (!state.escalation) {
      return;
    }
    renderEscalation();
    renderPatient();
    renderMessages();
    composer.hidden = state.closed;
    closedNotice.hidden = !state.closed;
    renderBooking();
  }

  // ---- wiring ----

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    sendReply();
  });
  input.addEventListener("keydown", function (event) {
    // Shift+Enter is a new line; never while an input method is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && enterSends()) {
      event.preventDefault();
      sendReply();
    }
  });
  input.addEventListener("input", resizeInput);
  retryButton.addEventListener("click", sendReply);
  handBackButton.addEventListener("click", handBack);
  languageToggle.addEventListener("click", toggleUiLanguage);
  slotSearch.addEventListener("submit", function (event) {
    event.preventDefault();
    lastSlots = [];
    findSlots();
  });
  stopMovingButton.addEventListener("click", stopMoving);
  window.addEventListener("pagehide", closeStream);

  // ---- start ----

  load()
    .then(function (body) {
      var doctorLanguage = body.doctor && body.doctor.language;
      if (!requestedLanguage && LANGUAGES.indexOf(doctorLanguage) >= 0 &&
          doctorLanguage !== uiLanguage) {
        applyUiLanguage(doctorLanguage);
      }
      loading.hidden = true;
      workspace.hidden = false;
      renderAll();
      openStream();
      root.dataset.ready = "true";
    })
    .catch(function (error) {
      if (error === STOPPED) {
        return;
      }
      delete loading.dataset.text;
      loading.textContent = failureText(error && error.response ? error : null);
      loading.classList.add("loading--error");
      root.dataset.ready = "true";
    });
})();
