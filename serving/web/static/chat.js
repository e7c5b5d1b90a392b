/*
 * The patient web chat: sends what the patient types (or the reply button they click) to
 * POST /api/v1/chat and shows the assistant's answer. Messages the clinic sends on its own (a
 * dentist's reply, a reminder) arrive on the event stream (GET /api/v1/chat/stream).
 *
 * - Text from the patient or the assistant is only ever set with textContent, never as HTML.
 * - Each message carries its own direction (Hebrew right-to-left, English left-to-right); the
 *   language toggle changes only the page's own labels.
 * - The visitor's id lives in localStorage so a reload continues the same conversation; the
 *   transcript lives in sessionStorage, so it survives a reload but not closing the tab.
 * - "Verify my phone" (shown only when the clinic can send SMS) asks for a phone, then for the
 *   code sent to it (POST {identity}/code, then /verify); once verified, the same conversation
 *   continues as the patient.
 */
(function () {
  "use strict";

  var element = window.DentalText.element;
  var fillText = window.DentalText.fillText;

  var USER_ID_KEY = "dental-chat.user-id";
  var TRANSCRIPT_KEY = "dental-chat.transcript";
  var KEPT_ENTRIES = 100;
  var REQUEST_TIMEOUT_MS = 60000;
  var LANGUAGES = ["he", "en"];

  var root = document.getElementById("chat");
  var uiText = JSON.parse(document.getElementById("ui-text").textContent);
  var chatUrl = root.dataset.chatUrl;
  var streamUrl = root.dataset.streamUrl;
  var IMAGE_SOURCE = /^data:image\/(png|jpeg);base64,[A-Za-z0-9+\/]+=*$/;
  var languageCookie = root.dataset.languageCookie;
  var uiLanguage = root.dataset.language;

  var messages = document.getElementById("messages");
  var emptyHint = document.getElementById("empty-hint");
  var form = document.getElementById("composer");
  var input = document.getElementById("message-input");
  var sendButton = document.getElementById("send-button");
  var languageToggle = document.getElementById("language-toggle");
  var newConversationButton = document.getElementById("new-conversation");
  var identityUrl = root.dataset.identityUrl;
  var myDataUrl = root.dataset.myDataUrl;
  var MY_DATA_COMMAND = /^\s*\/mydata\s*$/i;
  var verifyButton = document.getElementById("verify-phone");
  var identityPanel = document.getElementById("identity-panel");
  var phoneForm = document.getElementById("identity-phone-form");
  var codeForm = document.getElementById("identity-code-form");
  var phoneInput = document.getElementById("identity-phone");
  var codeInput = document.getElementById("identity-code");
  var identityStatus = document.getElementById("identity-status");

  var transcript = [];
  var busy = false;
  var userId = null;
  var stream = null;
  var codePhone = null;  // the phone the last code went to
  var identityBusy = false;
  var identityNotice = null;  // {key, values, error}: re-rendered when the language changes

  // ---- storage (may be unavailable: private modes, disabled cookies) ----

  function storageGet(storage, key) {
    try {
      return window[storage].getItem(key);
    } catch (error) {
      return null;
    }
  }

  function storageSet(storage, key, value) {
    try {
      window[storage].setItem(key, value);
    } catch (error) {
      // Without storage the conversation still works; it just does not survive a reload.
    }
  }

  function newUserId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function loadUserId() {
    var stored = storageGet("localStorage", USER_ID_KEY);
    if (stored && /^web-[0-9a-f]{32}$/.test(stored)) {
      return stored;
    }
    var created = newUserId();
    storageSet("localStorage", USER_ID_KEY, created);
    return created;
  }

  function saveTranscript() {
    storageSet("sessionStorage", TRANSCRIPT_KEY, JSON.stringify(transcript.slice(-KEPT_ENTRIES)));
  }

  function loadTranscript() {
    try {
      var parsed = JSON.parse(storageGet("sessionStorage", TRANSCRIPT_KEY) || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (error) {
      return [];
    }
  }

  // ---- language and direction ----

  function t(key, language) {
    var catalog = uiText[language || uiLanguage] || uiText.en;
    return catalog[key];
  }

  function directionOf(language) {
    return language === "he" ? "rtl" : "ltr";
  }

  /* Hebrew or English by the majority of letters, as the server's detect_language does. */
  function detectLanguage(text, fallback) {
    var hebrew = (text.match(/[\u05D0-\u05EA]/g) || []).length;
    var latin = (text.match(/[A-Za-z]/g) || []).length;
    if (hebrew === 0 && latin === 0) {
      return fallback;
    }
    return hebrew >= latin ? "he" : "en";
  }

  function applyUiLanguage(language) {
    uiLanguage = language;
    window.DentalText.relabel(language, t);
    languageToggle.lang = language === "he" ? "en" : "he";
    renderIdentityNotice();
  }

  /* A label with {name} placeholders filled in. */
  function formatted(key, values) {
    return t(key).replace(/\{([a-z_]+)\}/g, function (match, name) {
      return values && values[name] !== undefined ? String(values[name]) : match;
    });
  }

  function toggleUiLanguage() {
    var next = LANGUAGES[(LANGUAGES.indexOf(uiLanguage) + 1) % LANGUAGES.length];
    applyUiLanguage(next);
    // A cookie rather than localStorage so the server renders the page in this language.
    document.cookie = languageCookie + "=" + next + "; path=/; max-age=31536000; SameSite=Lax";
  }

  // ---- rendering (textContent only) ----


  /* A UI label that follows the language toggle. */
  function uiLabel(tag, className, key) {
    var node = element(tag, className, t(key));
    node.dataset.text = key;
    return node;
  }

  /* "... (reference {id})." with the id isolated, so it cannot reorder the sentence around it. */
  function withReference(template, reference) {
    var fragment = document.createDocumentFragment();
    var parts = template.split("{id}");
    fragment.appendChild(document.createTextNode(parts[0]));
    var isolated = element("bdi", "reference", reference);
    isolated.dir = "ltr";
    fragment.appendChild(isolated);
    fragment.appendChild(document.createTextNode(parts.slice(1).join("{id}")));
    return fragment;
  }

  function messageShell(role, extraClass) {
    var node = element("div", "message message--" + role + (extraClass ? " " + extraClass : ""));
    node.appendChild(uiLabel("span", "visually-hidden", role === "user" ? "you" : "assistant"));
    return node;
  }

  function bubbleFor(text, language) {
    var bubble = element("div", "bubble");
    bubble.dir = directionOf(language);
    bubble.lang = language;
    fillText(bubble, text);
    return bubble;
  }

  function renderUser(entry) {
    var node = messageShell("user", entry.failed ? "message--failed" : "");
    node.appendChild(bubbleFor(entry.text, entry.language));
    if (entry.failed) {
      node.appendChild(uiLabel("p", "message__status", "not_delivered"));
    }
    return node;
  }

  function escalationNotice(escalation, language) {
    var key = {
      EMERGENCY: "escalation_emergency",
      DOCTOR_REQUIRED: "escalation_doctor"
    }[escalation.urgency] || "escalation_other";
    var notice = element("p", "notice notice--escalation");
    notice.dir = directionOf(language);
    notice.lang = language;
    notice.appendChild(withReference(t(key, language), String(escalation.id)));
    return notice;
  }

  function renderAssistant(entry, live) {
    var emergency = entry.urgency === "EMERGENCY";
    var extra = emergency ? "message--emergency"
      : entry.urgency === "DOCTOR_REQUIRED" ? "message--doctor" : "";
    var node = messageShell("assistant", extra);
    node.dataset.urgency = entry.urgency || "";
    var bubble = bubbleFor(entry.text, entry.language);
    if (emergency) {
      bubble.setAttribute("role", "alert");
      var label = element("p", "bubble__label", t("emergency_label", entry.language));
      bubble.insertBefore(label, bubble.firstChild);
    }
    if (entry.image) {
      var picture = element("img", "bubble__image");
      picture.src = entry.image;
      picture.alt = entry.text || "";
      bubble.insertBefore(picture, bubble.firstChild);
    }
    if (entry.map) {
      var link = element("a", "bubble__link", t("open_map", entry.language));
      link.href = entry.map;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      bubble.appendChild(link);
    }
    node.appendChild(bubble);
    if (entry.escalation) {
      node.appendChild(escalationNotice(entry.escalation, entry.language));
    }
    if (live && entry.buttons && entry.buttons.length) {
      node.appendChild(replyButtons(entry.buttons, entry.language));
    }
    return node;
  }

  function replyButtons(buttons, language) {
    var group = element("div", "reply-buttons");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t("suggested_replies"));
    group.dataset.label = "suggested_replies";
    group.dir = directionOf(language);
    buttons.forEach(function (button) {
      var choice = element("button", "reply-button", String(button.text));
      choice.type = "button";
      choice.dir = "auto";
      choice.addEventListener("click", function () {
        send({ button: String(button.data) }, String(button.text));
      });
      group.appendChild(choice);
    });
    return group;
  }

  function renderNotice(entry) {
    var node = element("div", "message message--notice");
    var notice = element("p", "notice notice--" + (entry.kind || "error"));
    if (entry.key) {
      notice.dataset.text = entry.key;
      notice.textContent = t(entry.key);
    } else {
      notice.dir = "auto";
      notice.textContent = entry.text;
    }
    node.appendChild(notice);
    if (entry.reference) {
      var reference = element("p", "notice notice--reference");
      reference.appendChild(withReference(t("error_reference"), entry.reference));
      node.appendChild(reference);
    }
    return node;
  }

  function render(entry, live) {
    if (entry.role === "user") {
      return renderUser(entry);
    }
    if (entry.role === "assistant") {
      return renderAssistant(entry, live);
    }
    return renderNotice(entry);
  }

  function scrollToEnd() {
    messages.scrollTop = messages.scrollHeight;
  }

  function append(entry, live) {
    emptyHint.hidden = true;
    var node = render(entry, live);
    messages.appendChild(node);
    scrollToEnd();
    return node;
  }

  function record(entry) {
    transcript.push(entry);
    saveTranscript();
    return append(entry, true);
  }

  function removeReplyButtons() {
    Array.prototype.forEach.call(messages.querySelectorAll(".reply-buttons"), function (group) {
      group.remove();
    });
  }

  function showTyping() {
    var node = element("div", "message message--assistant message--typing");
    node.id = "typing";
    var bubble = element("div", "bubble bubble--typing");
    for (var i = 0; i < 3; i += 1) {
      bubble.appendChild(element("span", "typing-dot"));
    }
    bubble.appendChild(uiLabel("span", "visually-hidden", "typing"));
    node.appendChild(bubble);
    messages.appendChild(node);
    scrollToEnd();
  }

  function hideTyping() {
    var node = document.getElementById("typing");
    if (node) {
      node.remove();
    }
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    form.setAttribute("aria-busy", String(value));
    Array.prototype.forEach.call(messages.querySelectorAll(".reply-button"), function (button) {
      button.disabled = value;
    });
  }

  // ---- talking to the server ----

  function postChat(payload) {
    var controller = new AbortController();
    var timer = window.setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    return fetch(chatUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        user_id: userId,
        text: payload.text === undefined ? null : payload.text,
        button: payload.button === undefined ? null : payload.button
      }),
      credentials: "same-origin",
      signal: controller.signal
    }).finally(function () {
      window.clearTimeout(timer);
    });
  }

  /* "/mydata": the verified visitor's private link to their own data (docs/PRIVACY.md). */
  function postMyData() {
    return fetch(myDataUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ user_id: userId, language: uiLanguage }),
      credentials: "same-origin"
    });
  }

  function readJson(response) {
    return response.json().catch(function () {
      return null;
    });
  }

  function isReply(body) {
    return body && typeof body.reply === "string";
  }

  function validButtons(buttons) {
    return Array.isArray(buttons) ? buttons.filter(function (button) {
      return button && typeof button.text === "string" && typeof button.data === "string";
    }) : [];
  }

  function assistantEntry(body) {
    var language = LANGUAGES.indexOf(body.language) >= 0
      ? body.language : detectLanguage(body.reply, uiLanguage);
    var buttons = validButtons(body.buttons);
    var escalation = body.escalation && body.escalation.id !== undefined
      ? { id: String(body.escalation.id), urgency: String(body.escalation.urgency) } : null;
    return {
      role: "assistant",
      text: body.reply,
      language: language,
      urgency: String(body.urgency || "ROUTINE"),
      buttons: buttons,
      escalation: escalation
    };
  }

  /* A message the clinic pushed (see serving/web/push.py) as a transcript entry, or null. */
  function pushedEntry(event) {
    if (!event || typeof event !== "object") {
      return null;
    }
    var language = LANGUAGES.indexOf(event.language) >= 0 ? event.language : uiLanguage;
    var entry = { role: "assistant", language: language, urgency: "ROUTINE", buttons: [] };
    if (event.kind === "text" && typeof event.text === "string") {
      entry.text = event.text;
      entry.buttons = validButtons(event.buttons);
      return entry;
    }
    if (event.kind === "location" && typeof event.address === "string") {
      entry.text = [event.title, event.address].filter(function (part) {
        return typeof part === "string" && part;
      }).join("\n");
      if (typeof event.map_url === "string" && /^https:\/\//.test(event.map_url)) {
        entry.map = event.map_url;
      }
      return entry;
    }
    if (event.kind === "image" && typeof event.src === "string" && IMAGE_SOURCE.test(event.src)) {
      entry.text = typeof event.caption === "string" ? event.caption : "";
      entry.image = event.src;
      return entry;
    }
    return null;
  }

  /* Listen for pushed messages; the browser reconnects by itself after a network drop. */
  function openStream() {
    if (stream) {
      stream.close();
      stream = null;
    }
    if (!streamUrl || !window.EventSource) {
      return;
    }
    stream = new EventSource(streamUrl + "?user_id=" + encodeURIComponent(userId));
    stream.addEventListener("message", function (event) {
      var pushed;
      try {
        pushed = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      var entry = pushedEntry(pushed);
      if (!entry) {
        return;
      }
      if (entry.buttons.length) {
        removeReplyButtons();
      }
      record(entry);
    });
  }

  /* Why a request did not produce a reply, as a notice entry. */
  function failureEntry(response, body) {
    if (response && response.status === 429) {
      return { role: "notice", kind: "error", key: "error_rate_limited" };
    }
    var clientError = response && response.status >= 400 && response.status < 500;
    if (clientError && body && typeof body.message === "string" && body.message) {
      return { role: "notice", kind: "error", text: body.message };
    }
    if (!response) {
      return { role: "notice", kind: "error", key: "error_network" };
    }
    var reference = body && typeof body.request_id === "string" ? body.request_id : null;
    return { role: "notice", kind: "error", key: "error_server", reference: reference };
  }

  function markFailed(userEntry, userNode) {
    userEntry.failed = true;
    saveTranscript();
    userNode.replaceWith(renderUser(userEntry));
  }

  /* Send typed text ({text}) or a clicked button ({button}); `shown` is the patient's bubble. */
  function send(payload, shown) {
    if (busy) {
      return;
    }
    setBusy(true);
    var userEntry = {
      role: "user",
      text: shown,
      language: detectLanguage(shown, uiLanguage)
    };
    var userNode = record(userEntry);
    showTyping();

    var response = null;
    var myData = payload.text !== undefined && MY_DATA_COMMAND.test(payload.text) && myDataUrl;
    (myData ? postMyData() : postChat(payload))
      .then(function (received) {
        response = received;
        return readJson(received);
      })
      .then(function (body) {
        hideTyping();
        if (response.ok && isReply(body) && myData) {
          // Shown, never kept in the saved transcript: the link is a live credential.
          append(assistantEntry(body), true);
          if (!body.verified && identityUrl) {
            openIdentity(true);
          }
          return;
        }
        if (response.ok && isReply(body)) {
          // No reply while a dentist holds the chat: their answers arrive on the stream.
          if (body.reply !== "") {
            removeReplyButtons();
            record(assistantEntry(body));
          }
          if (needsIdentity(body)) {
            openIdentity(true);
          }
          return;
        }
        failed(body);
      })
      .catch(function () {
        hideTyping();
        failed(null);
      })
      .finally(function () {
        setBusy(false);
        input.focus();
      });

    function failed(body) {
      markFailed(userEntry, userNode);
      record(failureEntry(response, body));
      if (payload.text !== undefined && !input.value) {
        input.value = payload.text;  // so the patient can send it again
        resizeInput();
      }
    }
  }

  // ---- phone verification: a code by SMS ----

  function needsIdentity(body) {
    return Boolean(identityUrl) && Array.isArray(body.actions) && body.actions.some(
      function (action) { return action && action.type === "identity_required"; }
    );
  }

  function openIdentity(open) {
    if (!identityPanel) {
      return;
    }
    identityPanel.hidden = !open;
    verifyButton.setAttribute("aria-expanded", String(open));
    if (open) {
      (codeForm.hidden ? phoneInput : codeInput).focus();
    }
  }

  function showPhoneStep() {
    codeForm.hidden = true;
    phoneForm.hidden = false;
    codeInput.value = "";
  }

  function showCodeStep() {
    phoneForm.hidden = true;
    codeForm.hidden = false;
    codeInput.value = "";
    codeInput.focus();
  }

  function resetIdentity() {
    if (!identityPanel) {
      return;
    }
    codePhone = null;
    phoneInput.value = "";
    showPhoneStep();
    setIdentityNotice(null);
    openIdentity(false);
  }

  function setIdentityNotice(key, values, error) {
    identityNotice = key ? { key: key, values: values || {}, error: Boolean(error) } : null;
    renderIdentityNotice();
  }

  function renderIdentityNotice() {
    if (!identityStatus) {
      return;
    }
    identityStatus.textContent = identityNotice
      ? formatted(identityNotice.key, identityNotice.values) : "";
    identityStatus.classList.toggle(
      "identity__status--error", Boolean(identityNotice && identityNotice.error)
    );
  }

  function setIdentityBusy(value) {
    identityBusy = value;
    Array.prototype.forEach.call(
      identityPanel.querySelectorAll("button, input"),
      function (control) { control.disabled = value; }
    );
    if (value) {
      setIdentityNotice("verify_working");
    }
  }

  function postIdentity(path, payload) {
    var controller = new AbortController();
    var timer = window.setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var response = null;
    return fetch(identityUrl + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
      signal: controller.signal
    }).then(function (received) {
      response = received;
      return readJson(received);
    }).then(function (body) {
      return { response: response, body: body };
    }).catch(function () {
      return { response: response, body: null };
    }).finally(function () {
      window.clearTimeout(timer);
    });
  }

  /* What to tell the visitor when a request failed; the code step is left when the code is
   * gone (expired, used up). */
  function identityFailed(result) {
    var response = result.response;
    var error = result.body && typeof result.body.error === "string" ? result.body.error : "";
    if (!response) {
      setIdentityNotice("error_network", null, true);
    } else if (response.status === 429) {
      setIdentityNotice("verify_rate_limited", null, true);
    } else if (error === "wrong_code") {
      setIdentityNotice("verify_wrong_code", { count: Number(result.body.attempts_left) }, true);
      codeInput.select();
    } else if (error === "code_expired" || error === "too_many_attempts") {
      showPhoneStep();
      var key = error === "code_expired" ? "verify_code_expired" : "verify_too_many";
      setIdentityNotice(key, null, true);
    } else if (error === "phone_verification_unavailable") {
      setIdentityNotice("verify_unavailable", null, true);
      verifyButton.hidden = true;
    } else if (error === "code_not_sent") {
      setIdentityNotice("verify_not_sent", null, true);
    } else if (error === "invalid_request" && codeForm.hidden) {
      setIdentityNotice("verify_invalid_phone", null, true);
    } else {
      setIdentityNotice("error_server", null, true);
    }
  }

  function requestCode(phone) {
    if (identityBusy || busy) {
      return;
    }
    setIdentityBusy(true);
    postIdentity("/code", { user_id: userId, phone: phone, language: uiLanguage })
      .then(function (result) {
        setIdentityBusy(false);
        if (result.response && result.response.ok && result.body && result.body.sent) {
          codePhone = phone;
          showCodeStep();
          var minutes = Math.max(1, Math.round(Number(result.body.expires_in_seconds) / 60));
          setIdentityNotice("verify_code_sent", { minutes: minutes });
          return;
        }
        identityFailed(result);
      });
  }

  function verifyCode(code) {
    if (identityBusy || busy || codePhone === null) {
      return;
    }
    setIdentityBusy(true);
    postIdentity("/verify", { user_id: userId, phone: codePhone, code: code, language: uiLanguage })
      .then(function (result) {
        setIdentityBusy(false);
        var body = result.body;
        if (result.response && result.response.ok && body && typeof body.reply === "string") {
          resetIdentity();
          removeReplyButtons();
          record({
            role: "assistant",
            text: body.reply,
            language: LANGUAGES.indexOf(body.language) >= 0 ? body.language : uiLanguage,
            urgency: "ROUTINE",
            buttons: validButtons(body.buttons)
          });
          input.focus();
          return;
        }
        identityFailed(result);
      });
  }

  if (identityPanel) {
    verifyButton.addEventListener("click", function () {
      openIdentity(identityPanel.hidden);
    });
    document.getElementById("identity-cancel").addEventListener("click", resetIdentity);
    document.getElementById("identity-resend").addEventListener("click", function () {
      if (codePhone !== null) {
        requestCode(codePhone);
      }
    });
    phoneForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var phone = phoneInput.value.trim();
      if (!phone) {
        setIdentityNotice("verify_invalid_phone", null, true);
        return;
      }
      requestCode(phone);
    });
    codeForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = codeInput.value.replace(/\D/g, "");
      if (!/^[0-9]{6}$/.test(code)) {
        codeInput.focus();
        return;
      }
      verifyCode(code);
    });
  }

  // ---- the composer ----

  function resizeInput() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }

  function submitTyped() {
    var text = input.value.trim();
    if (!text || busy) {
      return;
    }
    input.value = "";
    resizeInput();
    send({ text: text }, text);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitTyped();
  });

  input.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter is a new line; never while an input method is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitTyped();
    }
  });

  input.addEventListener("input", resizeInput);
  languageToggle.addEventListener("click", toggleUiLanguage);

  newConversationButton.addEventListener("click", function () {
    if (busy || (transcript.length && !window.confirm(t("new_conversation_confirm")))) {
      return;
    }
    userId = newUserId();
    storageSet("localStorage", USER_ID_KEY, userId);
    resetIdentity();
    openStream();
    transcript = [];
    saveTranscript();
    Array.prototype.forEach.call(messages.querySelectorAll(".message"), function (node) {
      node.remove();
    });
    emptyHint.hidden = false;
    input.focus();
  });

  // ---- start ----

  userId = loadUserId();
  transcript = loadTranscript();
  transcript.forEach(function (entry, index) {
    // Only the latest reply's buttons can still be answered.
    append(entry, index === transcript.length - 1);
  });
  openStream();
  root.dataset.ready = "true";
})();
