/*
 * The staff dashboard's Operations: figures per hour, undelivered messages, dead letters,
 * memory patterns with what their conversations led to.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;

  // ---- Operations: figures, undelivered messages, dead letters, memory patterns ----

  desk.sections.operations = desk.section({
    data: null,
    build: function (body) {
      var self = this;
      var controls = desk.element("div", "toolbar");
      var hours = desk.element("select");
      hours.id = "figures-hours";
      [24, 72, 168].forEach(function (value) {
        var node = desk.option(value, desk.fill(desk.t("last_hours"), { hours: value }));
        hours.appendChild(node);
      });
      controls.appendChild(desk.field("period_label", hours));
      hours.addEventListener("change", function () {
        self.load();
      });
      var charts = desk.element("div", "charts");
      charts.id = "figures";
      var lists = desk.element("div", "operations-lists");
      var make = function (id, key) {
        var box = desk.element("section", "card");
        box.appendChild(desk.labelled("h2", "card__heading", key));
        var list = desk.element("ul", "list");
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
        desk.api("GET", "/figures" + desk.query({ hours: this.nodes.hours.value })),
        desk.api("GET", "/deliveries" + desk.query({ limit: 50 })),
        desk.api("GET", "/dead-letters" + desk.query({ limit: 50 })),
        desk.api("GET", "/memory-patterns")
      ]).then(function (results) {
        self.data = {
          figures: results[0], deliveries: desk.itemsOf(results[1]),
          deadLetters: desk.itemsOf(results[2]), patterns: desk.itemsOf(results[3])
        };
        self.paint();
      }, function (error) {
        desk.showPageError(error);
      });
    },
    paint: function () {
      var data = this.data;
      var nodes = this.nodes;
      Array.prototype.forEach.call(nodes.hours.options, function (node) {
        node.textContent = desk.fill(desk.t("last_hours"), { hours: node.value });
      });
      if (!data) {
        return;
      }
      nodes.charts.textContent = "";
      var figures = data.figures || {};
      var hourLabels = (figures.hours || []).map(function (iso) {
        return desk.formatWith(iso, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      });
      // Counts are whole, but an axis for at most one a hour is marked at 0.5 too.
      var whole = function (value) {
        return Number.isInteger(value) ? String(value) : value.toFixed(1);
      };
      var millis = function (value) {
        return value >= 1000 ? (value / 1000).toFixed(1) + " s" : whole(value) + " ms";
      };
      var plot = window.StaffCharts.plot;
      plot(nodes.charts, { title: desk.t("figure_conversations"), labels: hourLabels, format: whole,
        series: [{ name: desk.t("figure_conversations"), values: figures.conversations || [],
          kind: "bar" }] });
      plot(nodes.charts, { title: desk.t("figure_escalations"), labels: hourLabels, format: whole,
        series: [{ name: desk.t("figure_escalations"), values: figures.escalations || [],
          kind: "bar" }] });
      plot(nodes.charts, { title: desk.t("figure_latency"), labels: hourLabels, format: millis,
        series: [
          { name: desk.t("figure_p50"), values: figures.reply_latency_p50_ms || [], kind: "line" },
          { name: desk.t("figure_p95"), values: figures.reply_latency_p95_ms || [], kind: "line" }
        ] });
      plot(nodes.charts, { title: desk.t("figure_bookings"), labels: hourLabels, format: whole,
        series: [{ name: desk.t("figure_bookings"), values: figures.bookings_by_assistant || [],
          kind: "bar" }] });

      var rows = function (list, items, emptyKey, describe) {
        list.textContent = "";
        if (!items.length) {
          desk.emptyRow(list, emptyKey);
        }
        items.forEach(function (item) {
          var row = desk.element("li", "setup-row");
          describe(item).forEach(function (part) {
            row.appendChild(part);
          });
          list.appendChild(row);
        });
      };
      rows(nodes.deliveries, data.deliveries, "no_deliveries", function (item) {
        var open = desk.element("button", "text-button", desk.fill(desk.t("open_conversation"),
          { id: item.conversation_id }));
        open.type = "button";
        open.addEventListener("click", function () {
          desk.showSection("conversations");
          desk.sections.conversations.show(item.conversation_id);
        });
        return [
          desk.element("span", null, desk.formatDateTime(item.at)),
          desk.badge("channel_" + item.channel, "grey"),
          desk.element("bdi", "muted",
            item.author || desk.t(desk.ROLES[item.role] || "role_assistant")),
          open
        ];
      });
      rows(nodes.deadLetters, data.deadLetters, "no_dead_letters", function (item) {
        return [
          desk.element("span", null, desk.formatDateTime(item.received_at)),
          desk.element("code", "muted", String(item.update_id)),
          desk.element("span", "muted", desk.fill(desk.t("attempts"), { count: item.attempts })),
          desk.element("span", "setup-row__detail", item.error || "")
        ];
      });
      var percent = function (share) {
        return Math.round(share * 100) + "%";
      };
      rows(nodes.patterns, data.patterns, "no_patterns", function (item) {
        var parts = [
          desk.element("code", null, String(item.id)),
          desk.element("span", "setup-row__detail", item.description || ""),
          desk.element("span", "muted",
            desk.fill(desk.t("message_count"), { count: item.messages }))
        ];
        if (!item.conversations) {
          parts.push(desk.element("span", "muted", desk.t("pattern_no_conversations")));
          return parts;
        }
        var outcomes = [
          { kind: "booked", text: desk.fill(desk.t("pattern_booked"),
            { share: percent(item.booked_share) }), share: item.booked_share },
          { kind: "escalated", text: desk.fill(desk.t("pattern_escalated"),
            { share: percent(item.escalated_share) }), share: item.escalated_share },
          { kind: "dropped", text: desk.fill(desk.t("pattern_dropped"),
            { share: percent(item.dropped_share) }), share: item.dropped_share }
        ];
        var summary = desk.element("span", "pattern-outcomes");
        summary.appendChild(desk.element("span", null,
          desk.fill(desk.t("pattern_conversations"), { count: item.conversations })));
        summary.appendChild(window.StaffCharts.shares(outcomes));
        outcomes.forEach(function (outcome) {
          summary.appendChild(desk.element("span",
            "pattern-outcomes__share pattern-outcomes__share--" + outcome.kind, outcome.text));
        });
        parts.push(summary);
        return parts;
      });
    },
    reset: function () {
      this.data = null;
    }
  });
})();
