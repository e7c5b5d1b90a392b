/*
 * The staff dashboard's administrator records: the audit log and staff accounts.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;
  var sections = desk.sections;
  var section = desk.section;
  var t = desk.t;
  var fill = desk.fill;
  var labelled = desk.labelled;
  var element = desk.element;
  var formatDateTime = desk.formatDateTime;
  var addDays = desk.addDays;
  var api = desk.api;
  var query = desk.query;
  var itemsOf = desk.itemsOf;
  var showError = desk.showError;
  var showPageError = desk.showPageError;
  var status = desk.status;
  var field = desk.field;
  var input = desk.input;
  var button = desk.button;
  var option = desk.option;
  var badge = desk.badge;
  var emptyRow = desk.emptyRow;
  var me = desk.me;

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
        showPageError(error);
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
        showPageError(error);
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
        } else if (!me() || user.id !== me().id) {
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
})();
