/*
 * The staff dashboard's Conversations (search, read, take over, reply, hand back, and the
 * patient's clinical record for those allowed it) and the live escalation queue.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;
  var MAX_REPLY_CHARS = 4000;
  var ESCALATION_STATUS = {
    open: "escalation_open", claimed: "escalation_claimed", closed: "escalation_closed"
  };
  var escalationCount = document.getElementById("escalation-count");

  // ---- Conversations: search, read, take over, reply, hand back ----

  desk.sections.conversations = desk.section({
    listRequest: desk.newestOnly(),
    openRequest: desk.newestOnly(),
    items: [],
    open: null,
    refreshTimer: null,
    build: function (body) {
      var self = this;
      var form = desk.element("form", "toolbar");
      form.setAttribute("role", "search");
      var search = desk.input("search", "conversation-search",
        { "data-placeholder": "search_hint" });
      search.placeholder = desk.t("search_hint");
      var channel = desk.element("select");
      channel.id = "conversation-channel";
      [["", "channel_any"], ["web", "channel_web"], ["telegram", "channel_telegram"]]
        .forEach(function (pair) {
          var node = desk.option(pair[0], desk.t(pair[1]));
          node.setAttribute("data-text", pair[1]);
          channel.appendChild(node);
        });
      var held = desk.input("checkbox", "conversation-held");
      var heldLabel = desk.element("label", "check");
      heldLabel.appendChild(held);
      heldLabel.appendChild(desk.labelled("span", null, "held_only"));
      form.appendChild(desk.field("search_label", search));
      form.appendChild(desk.field("channel_label", channel));
      form.appendChild(heldLabel);
      var timer = null;
      search.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          self.load();
        }, desk.SEARCH_DELAY_MS);
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

      var columns = desk.element("div", "columns");
      var list = desk.element("ul", "list conversation-list");
      list.id = "conversation-list";
      var view = desk.element("div", "card conversation");
      view.id = "conversation-view";
      view.hidden = true;
      var heading = desk.element("div", "conversation__heading");
      heading.id = "conversation-heading";
      var actions = desk.element("div", "conversation__actions");
      var takeOver = desk.button("take_over", "primary-button", "take-over");
      var handBack = desk.button("hand_back", "secondary-button", "hand-back");
      actions.appendChild(takeOver);
      actions.appendChild(handBack);
      var clinical = desk.clinicalRecord("conversation");
      var actionError = desk.element("p", "notice notice--error");
      actionError.id = "conversation-error";
      actionError.hidden = true;
      actionError.setAttribute("role", "alert");
      var messages = desk.element("div", "messages");
      messages.id = "conversation-messages";
      messages.setAttribute("role", "log");
      messages.setAttribute("aria-live", "polite");
      var reply = desk.element("form", "composer");
      reply.id = "reply-form";
      reply.setAttribute("novalidate", "");
      var textarea = desk.element("textarea", "composer__input");
      textarea.id = "reply-input";
      textarea.rows = 2;
      textarea.dir = "auto";
      textarea.maxLength = MAX_REPLY_CHARS;
      textarea.setAttribute("data-placeholder", "reply_placeholder");
      textarea.setAttribute("aria-label", desk.t("reply_label"));
      textarea.setAttribute("data-label", "reply_label");
      textarea.placeholder = desk.t("reply_placeholder");
      var sendButton = desk.labelled("button", "composer__send", "send");
      sendButton.id = "reply-send";
      sendButton.type = "submit";
      reply.appendChild(textarea);
      reply.appendChild(sendButton);
      view.appendChild(heading);
      view.appendChild(actions);
      view.appendChild(clinical.node);
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
        if (window.confirm(desk.t("hand_back_confirm"))) {
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
        reply: reply, textarea: textarea, sendButton: sendButton, clinical: clinical
      };
    },
    load: function () {
      var self = this;
      var nodes = this.nodes;
      if (!nodes) {
        return Promise.resolve();
      }
      return this.listRequest(desk.api("GET", "/conversations" + desk.query({
        q: nodes.search.value.trim(),
        channel: nodes.channel.value,
        held: nodes.held.checked ? "true" : "",
        limit: 50
      }))).then(function (data) {
        self.items = desk.itemsOf(data);
        self.paintList();
      }, function (error) {
        desk.showPageError(error);
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
        desk.emptyRow(list, "no_conversations");
      }
      this.items.forEach(function (item) {
        var row = desk.element("li");
        var open = desk.element("button", "conversation-item");
        open.type = "button";
        open.dataset.id = item.id;
        if (self.open && self.open.conversation.id === item.id) {
          open.classList.add("conversation-item--open");
          open.setAttribute("aria-current", "true");
        }
        var top = desk.element("span", "conversation-item__top");
        top.appendChild(desk.element("bdi", "conversation-item__name",
          desk.personName(item.patient)));
        top.appendChild(desk.element("span", "muted", desk.formatDateTime(item.last_message_at)));
        open.appendChild(top);
        var badges = desk.element("span", "conversation-item__badges");
        badges.appendChild(desk.badge("channel_" + item.channel, "grey"));
        if (item.escalation && item.escalation.status !== "closed") {
          badges.appendChild(desk.urgencyBadge(item.escalation.urgency));
        }
        if (item.held_by) {
          badges.appendChild(desk.element("span", "badge badge--brand",
            desk.fill(desk.t("held_by"), { name: item.held_by })));
        }
        badges.appendChild(desk.element("span", "muted",
          desk.fill(desk.t("message_count"), { count: item.message_count })));
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
      var request = this.openRequest(desk.api("GET", "/conversations/" + encodeURIComponent(id)));
      return request.then(function (data) {
        var opening = !self.open || self.open.conversation.id !== id;
        self.open = data;
        self.paintOpen();
        self.paintList();
        if (opening) {
          self.nodes.view.scrollIntoView({ block: "nearest" });
        }
      }, function (error) {
        desk.showPageError(error);
      });
    },
    paintOpen: function () {
      var nodes = this.nodes;
      var open = this.open;
      nodes.view.hidden = !open;
      nodes.clinical.show(open && open.conversation.patient);
      if (!open) {
        return;
      }
      var conversation = open.conversation;
      var mine = !!conversation.held_by && !!desk.me() && conversation.held_by === desk.me().name;
      nodes.heading.textContent = "";
      nodes.heading.appendChild(desk.element("h2", "card__heading",
        desk.personName(conversation.patient)));
      var facts = desk.element("p", "muted");
      facts.textContent = desk.t("channel_" + conversation.channel) + " · " +
        (conversation.held_by ? desk.fill(desk.t("held_by"), { name: conversation.held_by })
          : desk.t("assistant_answers"));
      nodes.heading.appendChild(facts);
      nodes.takeOver.hidden = mine;
      nodes.takeOver.disabled = !!conversation.held_by && !mine;
      nodes.handBack.hidden = !mine;
      nodes.reply.hidden = !mine;
      var messages = nodes.messages;
      messages.textContent = "";
      if (!open.messages.length) {
        messages.appendChild(desk.element("p", "muted", desk.t("no_messages")));
      }
      open.messages.forEach(function (message) {
        var item = desk.element("div", "message message--" + message.role);
        item.dataset.id = message.id;
        var meta = desk.element("p", "message__meta");
        meta.appendChild(desk.element("bdi", null,
          message.author || desk.t(desk.ROLES[message.role] || "role_assistant")));
        meta.appendChild(desk.element("span", null, " · " + desk.formatDateTime(message.at)));
        if (message.delivery === "failed") {
          meta.appendChild(desk.element("span", "message__failed",
            " · " + desk.t("not_delivered")));
        }
        item.appendChild(meta);
        var text = desk.element("div", "message__text");
        desk.fillText(text, message.text);
        item.appendChild(text);
        messages.appendChild(item);
      });
      messages.scrollTop = messages.scrollHeight;
    },
    act: function (action) {
      var self = this;
      var id = this.open.conversation.id;
      this.nodes.actionError.hidden = true;
      return desk.api("POST", "/conversations/" + encodeURIComponent(id) + "/" + action)
        .then(function () {
          return self.show(id);
        }, function (error) {
          desk.showError(self.nodes.actionError, error);
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
      desk.api("POST", "/conversations/" + encodeURIComponent(id) + "/messages", { text: text })
        .then(function (data) {
          nodes.textarea.value = "";
          if (data && data.delivered === false) {
            desk.showError(nodes.actionError, desk.t("reply_not_delivered"));
          }
          // Not waited for: a live update may open the conversation again meanwhile.
          self.show(id);
        }, function (error) {
          desk.showError(nodes.actionError, error);
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
        if (desk.currentSection() === "conversations") {
          self.load();
        }
      }, desk.SEARCH_DELAY_MS);
    },
    reset: function () {
      this.items = [];
      this.open = null;
      if (this.nodes) {
        this.nodes.list.textContent = "";
        this.nodes.view.hidden = true;
        this.nodes.clinical.clear();
      }
    }
  });

  // ---- Escalations: the live queue ----

  desk.sections.escalations = desk.section({
    queueRequest: desk.newestOnly(),
    items: [],
    build: function (body) {
      var list = desk.element("ul", "list escalation-list");
      list.id = "escalation-list";
      body.appendChild(list);
      this.nodes = { list: list };
    },
    load: function () {
      var self = this;
      return this.queueRequest(desk.api("GET", "/escalations")).then(function (data) {
        self.items = desk.itemsOf(data);
        self.paintCount();
        if (self.built) {
          self.paint();
        }
      }, function (error) {
        desk.showPageError(error);
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
        desk.emptyRow(list, "no_escalations");
      }
      this.items.forEach(function (item) {
        var row = desk.element("li", "card escalation-item");
        row.dataset.id = item.id;
        row.dataset.status = item.status;
        var top = desk.element("div", "escalation-item__top");
        top.appendChild(desk.urgencyBadge(item.urgency));
        top.appendChild(desk.badge(ESCALATION_STATUS[item.status] || "escalation_open", "grey"));
        top.appendChild(desk.element("span", "muted", desk.formatDateTime(item.created_at)));
        row.appendChild(top);
        row.appendChild(desk.element("bdi", "escalation-item__patient",
          desk.personName(item.patient)));
        if (item.summary) {
          var summary = desk.element("div", "escalation-item__summary");
          desk.fillText(summary, item.summary);
          row.appendChild(summary);
        }
        if (item.doctor_name) {
          row.appendChild(desk.element("p", "muted", desk.fill(desk.t("escalation_doctor"),
            { name: item.doctor_name })));
        }
        if (item.status !== "closed" && desk.may("escalations.join")) {
          var join = desk.button("join", "primary-button escalation-item__join");
          join.addEventListener("click", function () {
            join.disabled = true;
            desk.api("POST", "/escalations/" + encodeURIComponent(item.id) + "/join")
              .then(function (data) {
                desk.showSection("conversations");
                return desk.sections.conversations.show(
                  (data && data.conversation && data.conversation.id) || item.conversation_id);
              }, function (error) {
                join.disabled = false;
                desk.showPageError(error);
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
})();
