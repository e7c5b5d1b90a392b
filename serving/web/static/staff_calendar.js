/*
 * The staff dashboard's Calendar: a provider's week, booking for a patient, moving and
 * cancelling.
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
  var formatClock = desk.formatClock;
  var formatDay = desk.formatDay;
  var isoDate = desk.isoDate;
  var addDays = desk.addDays;
  var personName = desk.personName;
  var api = desk.api;
  var query = desk.query;
  var itemsOf = desk.itemsOf;
  var newestOnly = desk.newestOnly;
  var showError = desk.showError;
  var showPageError = desk.showPageError;
  var status = desk.status;
  var field = desk.field;
  var input = desk.input;
  var button = desk.button;
  var option = desk.option;
  var badge = desk.badge;
  var emptyRow = desk.emptyRow;
  var language = desk.language;
  var SEARCH_DELAY_MS = desk.SEARCH_DELAY_MS;
  /* The calendar lists every appointment; only a scheduled one can be moved or cancelled. */
  var STATUS_LABELS = {
    cancelled: "appointment_cancelled", completed: "appointment_completed",
    no_show: "appointment_no_show"
  };

  // ---- Calendar: a provider's week, booking, moving and cancelling ----

  sections.calendar = section({
    calendarRequest: newestOnly(),
    patientRequest: newestOnly(),
    slotRequest: newestOnly(),
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
          showPageError(error);
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
      return this.calendarRequest(api("GET", "/calendar" + query({
        provider_id: providerId, from: this.nodes.from.value, days: 7
      }))).then(function (data) {
        self.calendar = data;
        self.paintDays();
      }, function (error) {
        showPageError(error);
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
          row.dataset.status = appointment.status;
          if (STATUS_LABELS[appointment.status]) {
            row.appendChild(badge(STATUS_LABELS[appointment.status], "grey"));
          }
          if (appointment.status === "scheduled") {
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
          }
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
      var request = this.patientRequest(api("GET", "/patients" + query({ q: text })));
      return request.then(function (data) {
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
      return this.slotRequest(api("GET", "/slots" + query({
        treatment: nodes.treatment.value,
        provider_id: nodes.provider.value,
        date: nodes.date.value
      }))).then(function (data) {
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
        choose.appendChild(element("bdi", "muted", (language() === "he" &&
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
      var when = formatDateTime(appointment.starts_at);
      if (!window.confirm(fill(t("cancel_confirm"), { time: when }))) {
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
})();
