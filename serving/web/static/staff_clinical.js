/*
 * The clinical record (allergies, treatment plan, notes) of the patient a staff member is
 * looking at, for the roles with the `clinical` permission: a button that loads it and the
 * panel that shows it. Every read is audited by the API (patient.clinical.read), so it is
 * loaded only when asked for, never by itself, and forgotten when the patient changes.
 * Used by the open conversation and the calendar's booking form (desk.clinicalRecord);
 * loaded after staff.js and before them.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;
  var SEVERITY = {
    severe: ["severity_severe", "danger"],
    moderate: ["severity_moderate", "amber"],
    mild: ["severity_mild", "grey"]
  };
  var PLAN_STATUS = {
    proposed: "plan_proposed", active: "plan_active", completed: "plan_completed"
  };
  var PLAN_ITEM_STATUS = {
    planned: "plan_item_planned", scheduled: "plan_item_scheduled", done: "plan_item_done"
  };

  function statusBadge(labels, value) {
    return labels[value] ? desk.badge(labels[value], "grey")
      : desk.element("span", "badge badge--grey", value);
  }

  function subheading(key) {
    return desk.labelled("h3", "clinical__subheading", key);
  }

  function allergyRow(allergy) {
    var row = desk.element("li", "clinical__row clinical__allergy");
    row.appendChild(desk.element("bdi", "clinical__name", allergy.substance));
    if (allergy.reaction) {
      row.appendChild(desk.element("bdi", "muted", allergy.reaction));
    }
    var severity = SEVERITY[allergy.severity];
    row.appendChild(severity ? desk.badge(severity[0], severity[1])
      : desk.badge("severity_unknown", "grey"));
    return row;
  }

  function planBlock(plan) {
    var block = desk.element("li", "clinical__plan");
    var top = desk.element("p", "clinical__row");
    top.appendChild(desk.element("bdi", "clinical__name", plan.title));
    top.appendChild(statusBadge(PLAN_STATUS, plan.status));
    block.appendChild(top);
    var items = desk.element("ul", "list");
    plan.items.forEach(function (item) {
      var row = desk.element("li", "clinical__row");
      row.appendChild(desk.element("bdi", null, item.treatment_name || item.treatment_code));
      if (item.tooth) {
        row.appendChild(desk.element("span", "muted", desk.fill(desk.t("plan_tooth"),
          { tooth: item.tooth })));
      }
      row.appendChild(statusBadge(PLAN_ITEM_STATUS, item.status));
      var price = desk.element("span", "muted number", item.estimated_price);
      price.dir = "ltr";
      row.appendChild(price);
      items.appendChild(row);
    });
    block.appendChild(items);
    return block;
  }

  function noteRow(note) {
    var row = desk.element("li", "clinical__note");
    var meta = desk.element("p", "message__meta");
    meta.appendChild(desk.element("bdi", null, note.author));
    meta.appendChild(desk.element("span", null, " · " + desk.formatDateTime(note.created_at)));
    // A note written for the patient is one the assistant reads out to them when asked.
    meta.appendChild(note.for_patient ? desk.badge("note_for_patient", "brand")
      : desk.badge("note_staff_only", "grey"));
    row.appendChild(meta);
    var body = desk.element("div", "clinical__note-body");
    desk.fillText(body, note.body);
    row.appendChild(body);
    return row;
  }

  function listOf(items, emptyKey, render) {
    var list = desk.element("ul", "list");
    if (!items.length) {
      desk.emptyRow(list, emptyKey);
    }
    items.forEach(function (item) {
      list.appendChild(render(item));
    });
    return list;
  }

  /*
   * The button and panel for one place on the page, their ids starting with `prefix`.
   * show(patient) follows the patient on screen ({id, name, name_he?} or null); the record
   * loaded stays only while that patient does.
   */
  function clinicalRecord(prefix) {
    var box = desk.element("div", "clinical");
    box.hidden = true;
    var toggle = desk.button("clinical_open", "secondary-button clinical__toggle",
      prefix + "-clinical-open");
    toggle.setAttribute("aria-expanded", "false");
    var panel = desk.element("section", "clinical__panel");
    panel.id = prefix + "-clinical";
    panel.hidden = true;
    toggle.setAttribute("aria-controls", panel.id);
    box.appendChild(toggle);
    box.appendChild(panel);
    /* `asked` counts the opens and forgets: an answer is shown only if nothing came between. */
    var state = { patient: null, record: null, loading: false, error: null, asked: 0 };

    function forget() {
      state.asked += 1;
      state.record = null;
      state.loading = false;
      state.error = null;
    }

    function paint() {
      var expanded = !!(state.record || state.loading || state.error);
      var key = state.record ? "clinical_close" : "clinical_open";
      toggle.textContent = desk.t(key);
      toggle.setAttribute("data-text", key);
      toggle.disabled = state.loading;
      toggle.setAttribute("aria-expanded", String(expanded));
      panel.hidden = !expanded;
      panel.textContent = "";
      if (!expanded) {
        return;
      }
      panel.appendChild(desk.element("h2", "card__heading", desk.fill(desk.t("clinical_heading"),
        { name: desk.personName(state.patient) })));
      if (state.loading) {
        panel.appendChild(desk.labelled("p", "muted", "loading"));
        return;
      }
      if (state.error) {
        var error = desk.element("p", "notice notice--error");
        error.setAttribute("role", "alert");
        desk.showError(error, state.error);
        panel.appendChild(error);
        return;
      }
      var record = state.record;
      panel.appendChild(subheading("clinical_allergies"));
      var allergies = listOf(record.allergies, "clinical_no_allergies", allergyRow);
      allergies.id = prefix + "-clinical-allergies";
      panel.appendChild(allergies);
      panel.appendChild(subheading("clinical_plan"));
      panel.appendChild(listOf(record.plans, "clinical_no_plan", planBlock));
      panel.appendChild(subheading("clinical_notes"));
      panel.appendChild(listOf(record.notes, "clinical_no_notes", noteRow));
    }

    function open() {
      forget();
      var asked = state.asked;
      state.loading = true;
      paint();
      desk.api("GET", "/patients/" + encodeURIComponent(state.patient.id) + "/clinical")
        .then(function (record) {
          if (state.asked === asked) {
            state.loading = false;
            state.record = record;
            paint();
          }
        }, function (error) {
          if (state.asked === asked) {
            state.loading = false;
            state.error = error;
            paint();
          }
        });
    }

    function show(patient) {
      var allowed = !!patient && desk.may("clinical");
      if (!allowed || !state.patient || state.patient.id !== patient.id) {
        forget();
      }
      state.patient = allowed ? patient : null;
      box.hidden = !allowed;
      paint();
    }

    toggle.addEventListener("click", function () {
      if (state.record) {
        forget();
        paint();
      } else if (state.patient) {
        open();
      }
    });

    return { node: box, show: show, clear: function () { show(null); } };
  }

  desk.clinicalRecord = clinicalRecord;
})();
