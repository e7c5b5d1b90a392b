/*
 * The staff dashboard's administrator records: the audit log, staff accounts and the on-call
 * rota.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;

  // ---- Audit (admin) ----

  desk.sections.audit = desk.section({
    items: [],
    build: function (body) {
      var self = this;
      var form = desk.element("form", "toolbar");
      form.id = "audit-filters";
      var nodes = {
        actor: desk.input("number", "audit-actor", { min: "1" }),
        patient: desk.input("number", "audit-patient", { min: "1" }),
        action: desk.input("text", "audit-action", { dir: "ltr" }),
        since: desk.input("date", "audit-since"),
        until: desk.input("date", "audit-until")
      };
      form.appendChild(desk.field("audit_actor", nodes.actor));
      form.appendChild(desk.field("audit_patient", nodes.patient));
      form.appendChild(desk.field("audit_action", nodes.action));
      form.appendChild(desk.field("audit_since", nodes.since));
      form.appendChild(desk.field("audit_until", nodes.until));
      var apply = desk.labelled("button", "primary-button", "apply_filters");
      apply.type = "submit";
      form.appendChild(apply);
      var list = desk.element("ul", "list audit-list");
      list.id = "audit-list";
      var more = desk.button("older", "secondary-button", "audit-more");
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
      return desk.api("GET", "/audit" + desk.query({
        actor_id: nodes.actor.value, patient_id: nodes.patient.value,
        action: nodes.action.value.trim(),
        since: nodes.since.value ? nodes.since.value + "T00:00:00" : "",
        until: nodes.until.value ? desk.addDays(nodes.until.value, 1) + "T00:00:00" : "",
        before: before, limit: 100
      })).then(function (data) {
        var items = desk.itemsOf(data);
        self.items = before ? self.items.concat(items) : items;
        nodes.more.hidden = items.length < 100;
        self.paint();
      }, function (error) {
        desk.showPageError(error);
      });
    },
    paint: function () {
      var list = this.nodes.list;
      list.textContent = "";
      if (!this.items.length) {
        desk.emptyRow(list, "no_audit");
      }
      this.items.forEach(function (item) {
        var row = desk.element("li", "audit-row");
        row.appendChild(desk.element("span", "audit-row__at", desk.formatDateTime(item.at)));
        row.appendChild(desk.element("code", "audit-row__action", item.action));
        row.appendChild(desk.element("bdi", null, item.actor_email || ""));
        row.appendChild(desk.element("span", "muted", item.actor_role || ""));
        if (item.patient_id !== null && item.patient_id !== undefined) {
          row.appendChild(desk.element("span", "muted", desk.fill(desk.t("patient_number"),
            { id: item.patient_id })));
        }
        if (item.subject) {
          row.appendChild(desk.element("span", "muted", item.subject));
        }
        if (item.reason) {
          row.appendChild(desk.element("bdi", "audit-row__reason", item.reason));
        }
        list.appendChild(row);
      });
    },
    reset: function () {
      this.items = [];
    }
  });

  // ---- Users (admin) ----

  desk.sections.users = desk.section({
    items: [],
    build: function (body) {
      var self = this;
      var list = desk.element("ul", "list");
      list.id = "user-list";
      var form = desk.element("form", "inline-form");
      form.id = "user-add";
      var nodes = {
        list: list,
        email: desk.input("email", "user-email", { required: "", dir: "ltr" }),
        name: desk.input("text", "user-name-input", { required: "" }),
        role: desk.element("select")
      };
      nodes.role.id = "user-role";
      ["receptionist", "doctor", "admin"].forEach(function (role) {
        var node = desk.option(role, desk.t("staff_role_" + role));
        node.setAttribute("data-text", "staff_role_" + role);
        nodes.role.appendChild(node);
      });
      form.appendChild(desk.field("email_label", nodes.email));
      form.appendChild(desk.field("user_name_label", nodes.name));
      form.appendChild(desk.field("staff_role_label", nodes.role));
      var add = desk.labelled("button", "primary-button", "add_user");
      add.type = "submit";
      form.appendChild(add);
      nodes.status = desk.element("p", "panel__status");
      nodes.status.id = "user-status";
      nodes.status.setAttribute("role", "status");
      nodes.status.hidden = true;
      body.appendChild(list);
      body.appendChild(form);
      body.appendChild(nodes.status);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.run(desk.api("POST", "/users", {
          email: nodes.email.value.trim(), name: nodes.name.value.trim(), role: nodes.role.value
        }), function () {
          form.reset();
        });
      });
      this.nodes = nodes;
    },
    /* A change to an account; a generated password is shown once, here, and nowhere else. */
    run: function (request, done) {
      return desk.save(this, this.nodes.status, request, done, function (data) {
        var password = data && (data.password || (data.user && data.user.password));
        return password
          ? desk.fill(desk.t("password_once"), { password: password }) : desk.t("saved");
      });
    },
    load: function () {
      return desk.loadList(this, "/users");
    },
    paint: function () {
      var self = this;
      var list = this.nodes.list;
      list.textContent = "";
      this.items.forEach(function (user) {
        var row = desk.element("li", "setup-row");
        row.dataset.id = user.id;
        row.appendChild(desk.element("bdi", "setup-row__name", user.name));
        row.appendChild(desk.element("span", "muted", user.email));
        row.appendChild(desk.element("span", "badge badge--grey",
          desk.t("staff_role_" + user.role) || user.role));
        var disabled = user.disabled === true || user.active === false;
        if (disabled) {
          row.appendChild(desk.badge("inactive", "grey"));
        } else if (!desk.me() || user.id !== desk.me().id) {
          var disable = desk.button("disable_user", "text-button text-button--danger");
          disable.addEventListener("click", function () {
            if (window.confirm(desk.fill(desk.t("disable_confirm"), { name: user.name }))) {
              self.run(desk.api("POST", "/users/" + encodeURIComponent(user.id) + "/disable"));
            }
          });
          row.appendChild(disable);
        }
        var reset = desk.button("reset_password", "text-button");
        reset.addEventListener("click", function () {
          if (window.confirm(desk.fill(desk.t("reset_confirm"), { name: user.name }))) {
            self.run(desk.api("POST", "/users/" + encodeURIComponent(user.id) + "/reset"));
          }
        });
        row.appendChild(reset);
        list.appendChild(row);
      });
    },
    reset: function () {
      this.items = [];
      if (this.nodes) {
        desk.status(this.nodes.status, "");
      }
    }
  });

  // ---- On-call rota (admin) ----

  /* "sun-thu 08:00-18:00" lines as the API takes them; blank lines are dropped. */
  function shiftLines(text) {
    return text.split(/\r?\n/).map(function (line) {
      return line.trim();
    }).filter(function (line) {
      return line !== "";
    });
  }

  /*
   * The chat id as a number when it is one; anything else goes to the server as typed, so its
   * validation message is the one shown.
   */
  function chatId(text) {
    var value = text.trim();
    if (!value) {
      return null;
    }
    return /^-?\d{1,15}$/.test(value) ? Number(value) : value;
  }

  desk.sections.oncall = desk.section({
    items: [],
    build: function (body) {
      var self = this;
      var list = desk.element("ul", "list");
      list.id = "oncall-list";
      var form = desk.element("form", "card oncall-form");
      form.id = "oncall-add";
      form.setAttribute("novalidate", "");
      form.appendChild(desk.labelled("h2", "card__heading", "oncall_add_heading"));
      var nodes = {
        list: list,
        name: desk.input("text", "oncall-name", { autocomplete: "off" }),
        email: desk.input("email", "oncall-email", { dir: "ltr", autocomplete: "off" }),
        phone: desk.input("tel", "oncall-phone", { dir: "ltr", autocomplete: "off" }),
        telegram: desk.input("text", "oncall-telegram",
          { dir: "ltr", inputmode: "numeric", autocomplete: "off" }),
        language: desk.element("select"),
        fallback: desk.input("checkbox", "oncall-fallback"),
        shifts: desk.element("textarea")
      };
      nodes.language.id = "oncall-language";
      ["he", "en"].forEach(function (language) {
        var node = desk.option(language, desk.t("oncall_language_" + language));
        node.setAttribute("data-text", "oncall_language_" + language);
        nodes.language.appendChild(node);
      });
      nodes.shifts.id = "oncall-shifts";
      nodes.shifts.rows = 3;
      nodes.shifts.dir = "ltr";
      nodes.shifts.placeholder = "sun-thu 08:00-18:00\nfri 18:00-08:00";
      var fields = desk.element("div", "inline-form");
      fields.appendChild(desk.field("user_name_label", nodes.name));
      fields.appendChild(desk.field("email_label", nodes.email));
      fields.appendChild(desk.field("oncall_phone_label", nodes.phone));
      fields.appendChild(desk.field("oncall_telegram_label", nodes.telegram));
      fields.appendChild(desk.field("oncall_language_label", nodes.language));
      form.appendChild(fields);
      form.appendChild(desk.field("oncall_shifts_label", nodes.shifts));
      form.appendChild(desk.labelled("p", "muted", "oncall_shifts_hint"));
      var fallback = desk.element("label", "check");
      fallback.appendChild(nodes.fallback);
      fallback.appendChild(desk.labelled("span", null, "oncall_fallback_label"));
      form.appendChild(fallback);
      var add = desk.labelled("button", "primary-button", "oncall_add");
      add.type = "submit";
      form.appendChild(add);
      nodes.status = desk.element("p", "panel__status");
      nodes.status.id = "oncall-status";
      nodes.status.setAttribute("role", "status");
      nodes.status.hidden = true;
      form.appendChild(nodes.status);
      body.appendChild(list);
      body.appendChild(form);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        add.disabled = true;
        self.run(desk.api("POST", "/oncall", {
          name: nodes.name.value.trim(),
          email: nodes.email.value.trim(),
          phone: nodes.phone.value.trim(),
          telegram_chat_id: chatId(nodes.telegram.value),
          language: nodes.language.value,
          fallback: nodes.fallback.checked,
          shifts: shiftLines(nodes.shifts.value)
        }), function () {
          form.reset();
        }).then(function () {
          add.disabled = false;
        });
      });
      this.nodes = nodes;
    },
    /* A change to the rota; the server's message, as it comes, when it refuses one. */
    run: function (request, done) {
      return desk.save(this, this.nodes.status, request, done);
    },
    load: function () {
      return desk.loadList(this, "/oncall");
    },
    paint: function () {
      var self = this;
      var list = this.nodes.list;
      list.textContent = "";
      if (!this.items.length) {
        desk.emptyRow(list, "oncall_none");
      }
      this.items.forEach(function (doctor) {
        var row = desk.element("li", "setup-row oncall-row");
        row.dataset.id = doctor.id;
        row.appendChild(desk.element("bdi", "setup-row__name", doctor.name));
        if (doctor.fallback) {
          row.appendChild(desk.badge("oncall_fallback", "brand"));
        }
        var contact = desk.element("span", "setup-row__detail muted oncall-row__contacts");
        [doctor.email, doctor.phone].forEach(function (value) {
          var node = desk.element("span", null, value);
          node.dir = "ltr";
          contact.appendChild(node);
        });
        if (doctor.telegram_chat_id !== null && doctor.telegram_chat_id !== undefined) {
          contact.appendChild(desk.element("span", null,
            desk.fill(desk.t("oncall_telegram"), { id: doctor.telegram_chat_id })));
        }
        contact.appendChild(desk.element("span", null,
          desk.t("oncall_language_" + doctor.language) || doctor.language));
        row.appendChild(contact);
        var shifts = desk.element("span", "oncall-row__shifts");
        if (!doctor.shifts.length) {
          shifts.appendChild(desk.element("span", "muted", desk.t("oncall_no_shifts")));
        }
        doctor.shifts.forEach(function (shift) {
          var node = desk.element("span", "badge badge--grey", shift);
          node.dir = "ltr";
          shifts.appendChild(node);
        });
        row.appendChild(shifts);
        var remove = desk.button("remove", "text-button text-button--danger");
        remove.addEventListener("click", function () {
          if (window.confirm(desk.fill(desk.t("remove_confirm"), { name: doctor.name }))) {
            self.run(desk.api("DELETE", "/oncall/" + encodeURIComponent(doctor.id)));
          }
        });
        row.appendChild(remove);
        list.appendChild(row);
      });
    },
    reset: function () {
      this.items = [];
      if (this.nodes) {
        this.nodes.list.textContent = "";
        desk.status(this.nodes.status, "");
      }
    }
  });
})();
