/*
 * The staff dashboard's Operations: figures per hour, undelivered messages, dead letters,
 * memory patterns.
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
  var formatWith = desk.formatWith;
  var formatDateTime = desk.formatDateTime;
  var api = desk.api;
  var query = desk.query;
  var itemsOf = desk.itemsOf;
  var showPageError = desk.showPageError;
  var field = desk.field;
  var button = desk.button;
  var option = desk.option;
  var badge = desk.badge;
  var emptyRow = desk.emptyRow;
  var ROLES = desk.ROLES;
  var showSection = desk.showSection;

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
        showPageError(error);
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
})();
