/*
 * The staff dashboard's Calendar: a provider's week, booking for a patient (with the patient's
 * clinical record for those allowed it), moving and cancelling.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;
  /* The calendar lists every appointment; only a scheduled one can be moved or cancelled. */
  var STATUS_LABELS = {
    cancelled: "appointment_cancelled", completed: "appointment_completed",
    no_show: "appointment_no_show"
  };

  // ---- Calendar: a provider's week, booking, moving and cancelling ----

  desk.sections.calendar = desk.section({
    calendarRequest: desk.newestOnly(),
    patientRequest: desk.newestOnly(),
    slotRequest: desk.newestOnly(),
    providers: [],
    treatments: [],
    calendar: null,
    patient: null,
    slot: null,
    moving: null,
    slots: [],
    build: function (body) {
      var self = this;
      var controls = desk.element("div", "toolbar");
      var provider = desk.element("select");
      provider.id = "calendar-provider";
      var from = desk.input("date", "calendar-from");
      from.value = desk.isoDate(new Date());
      var previous = desk.button("previous_week", "secondary-button", "calendar-previous");
      var next = desk.button("next_week", "secondary-button", "calendar-next");
      controls.appendChild(desk.field("provider_label", provider));
      controls.appendChild(desk.field("week_from", from));
      controls.appendChild(previous);
      controls.appendChild(next);
      var columns = desk.element("div", "columns");
      var days = desk.element("div", "calendar-days");
      days.id = "calendar-days";

      var booking = desk.element("form", "card booking");
      booking.id = "booking";
      booking.setAttribute("novalidate", "");
      var heading = desk.labelled("h2", "card__heading", "book_heading");
      heading.id = "booking-heading";
      booking.appendChild(heading);
      var moving = desk.element("div", "moving");
      moving.id = "booking-moving";
      moving.hidden = true;
      var movingText = desk.element("p");
      var stopMoving = desk.button("stop_moving", "text-button", "booking-stop-moving");
      moving.appendChild(movingText);
      moving.appendChild(stopMoving);
      booking.appendChild(moving);
      var patientRow = desk.element("div", "booking__patient");
      var patientQuery = desk.input("search", "book-patient-query",
        { "data-placeholder": "patient_search_hint", autocomplete: "off" });
      patientQuery.placeholder = desk.t("patient_search_hint");
      patientRow.appendChild(desk.field("patient_label", patientQuery));
      var patients = desk.element("ul", "choices");
      patients.id = "book-patients";
      var chosen = desk.element("p", "booking__chosen");
      chosen.id = "book-patient";
      chosen.hidden = true;
      patientRow.appendChild(patients);
      patientRow.appendChild(chosen);
      var clinical = desk.clinicalRecord("book");
      patientRow.appendChild(clinical.node);
      booking.appendChild(patientRow);
      var treatment = desk.element("select");
      treatment.id = "book-treatment";
      var date = desk.input("date", "book-date");
      date.value = desk.isoDate(new Date());
      booking.appendChild(desk.field("treatment_label", treatment));
      booking.appendChild(desk.field("date_label", date));
      var find = desk.button("find_slots", "secondary-button", "book-find");
      booking.appendChild(find);
      var slots = desk.element("ul", "choices slots");
      slots.id = "book-slots";
      booking.appendChild(slots);
      var confirm = desk.element("button", "primary-button");
      confirm.id = "book-confirm";
      confirm.type = "submit";
      confirm.disabled = true;
      booking.appendChild(confirm);
      var bookingStatus = desk.element("p", "booking__status");
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
        from.value = desk.addDays(from.value || desk.isoDate(new Date()), -7);
        self.loadCalendar();
      });
      next.addEventListener("click", function () {
        from.value = desk.addDays(from.value || desk.isoDate(new Date()), 7);
        self.loadCalendar();
      });
      var searchTimer = null;
      patientQuery.addEventListener("input", function () {
        window.clearTimeout(searchTimer);
        searchTimer = window.setTimeout(function () {
          self.searchPatients();
        }, desk.SEARCH_DELAY_MS);
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
        patientRow: patientRow, clinical: clinical
      };
    },
    load: function () {
      var self = this;
      if (this.providers.length) {
        return this.loadCalendar();
      }
      return Promise.all([desk.api("GET", "/providers"), desk.api("GET", "/treatments")])
        .then(function (results) {
          self.providers = desk.itemsOf(results[0]).filter(function (provider) {
            return provider.active !== false;
          });
          self.treatments = desk.itemsOf(results[1]);
          self.paintChoices();
          return self.loadCalendar();
        }, function (error) {
          desk.showPageError(error);
        });
    },
    paintChoices: function () {
      var self = this;
      var provider = this.nodes.provider;
      var chosenProvider = provider.value;
      provider.textContent = "";
      this.providers.forEach(function (item) {
        provider.appendChild(desk.option(item.id, desk.personName(item)));
      });
      if (chosenProvider) {
        provider.value = chosenProvider;
      }
      var treatment = this.nodes.treatment;
      var chosenTreatment = treatment.value;
      treatment.textContent = "";
      this.treatments.forEach(function (item) {
        treatment.appendChild(desk.option(item.code, desk.personName(item) + " · " +
          desk.fill(desk.t("minutes"), { minutes: item.duration_minutes })));
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
      return this.calendarRequest(desk.api("GET", "/calendar" + desk.query({
        provider_id: providerId, from: this.nodes.from.value, days: 7
      }))).then(function (data) {
        self.calendar = data;
        self.paintDays();
      }, function (error) {
        desk.showPageError(error);
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
        var box = desk.element("section", "card calendar-day");
        box.dataset.date = day.date;
        var top = desk.element("div", "calendar-day__top");
        top.appendChild(desk.element("h2", "card__heading", desk.formatDay(day.date)));
        var hours = (day.hours || []).map(function (window) {
          return window[0] + "–" + window[1];
        }).join(", ");
        var hoursNode = desk.element("span", "muted", hours || desk.t("closed_day"));
        hoursNode.dir = "ltr";
        top.appendChild(hoursNode);
        box.appendChild(top);
        var list = desk.element("ul", "list");
        if (!day.appointments.length) {
          desk.emptyRow(list, "no_appointments");
        }
        day.appointments.forEach(function (appointment) {
          var row = desk.element("li", "appointment");
          row.dataset.id = appointment.id;
          var time = desk.element("span", "appointment__time",
            desk.formatClock(appointment.starts_at) + "–" + desk.formatClock(appointment.ends_at));
          time.dir = "ltr";
          row.appendChild(time);
          row.appendChild(desk.element("bdi", "appointment__patient",
            desk.personName(appointment.patient)));
          row.appendChild(desk.element("span", "muted",
            self.treatmentName(appointment.treatment_code || appointment.treatment)));
          row.dataset.status = appointment.status;
          if (STATUS_LABELS[appointment.status]) {
            row.appendChild(desk.badge(STATUS_LABELS[appointment.status], "grey"));
          }
          if (appointment.status === "scheduled") {
            var move = desk.button("move", "text-button");
            move.addEventListener("click", function () {
              self.startMoving(appointment);
            });
            var cancel = desk.button("cancel_appointment", "text-button text-button--danger");
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
      return known ? desk.personName(known) : String(value || "");
    },
    searchPatients: function () {
      var self = this;
      var text = this.nodes.patientQuery.value.trim();
      var list = this.nodes.patients;
      if (text.length < 2) {
        list.textContent = "";
        return Promise.resolve();
      }
      var request = this.patientRequest(desk.api("GET", "/patients" + desk.query({ q: text })));
      return request.then(function (data) {
        list.textContent = "";
        var items = desk.itemsOf(data);
        if (!items.length) {
          desk.emptyRow(list, "no_patients");
        }
        items.forEach(function (patient) {
          var row = desk.element("li");
          var choose = desk.element("button", "choice");
          choose.type = "button";
          choose.dataset.id = patient.id;
          choose.appendChild(desk.element("bdi", null, desk.personName(patient)));
          var phone = desk.element("span", "muted number", patient.phone || "");
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
        desk.showError(self.nodes.status, error);
      });
    },
    findSlots: function () {
      var self = this;
      var nodes = this.nodes;
      desk.status(nodes.status, desk.t("searching"));
      this.slot = null;
      return this.slotRequest(desk.api("GET", "/slots" + desk.query({
        treatment: nodes.treatment.value,
        provider_id: nodes.provider.value,
        date: nodes.date.value
      }))).then(function (data) {
        self.slots = desk.itemsOf(data);
        desk.status(nodes.status, self.slots.length ? "" : desk.t("no_slots"));
        self.paintSlots();
      }, function (error) {
        desk.showError(nodes.status, error);
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
        var row = desk.element("li");
        var choose = desk.element("button", "choice slot");
        choose.type = "button";
        choose.dataset.startsAt = slot.starts_at;
        choose.setAttribute("aria-pressed", String(self.slot === slot));
        choose.appendChild(desk.element("span", "slot__time", desk.formatClock(slot.starts_at)));
        choose.appendChild(desk.element("bdi", "muted", (desk.language() === "he" &&
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
        nodes.movingText.textContent = desk.fill(desk.t("moving"), {
          patient: desk.personName(moving.patient), time: desk.formatDateTime(moving.starts_at)
        });
      }
      nodes.chosen.hidden = !this.patient;
      nodes.chosen.textContent = this.patient
        ? desk.fill(desk.t("patient_chosen"), { name: desk.personName(this.patient) }) : "";
      nodes.clinical.show(moving ? null : this.patient);
      var ready = !!this.slot && (!!moving || !!this.patient);
      nodes.confirm.disabled = !ready;
      if (moving) {
        nodes.confirm.textContent = this.slot
          ? desk.fill(desk.t("move_to"), { time: desk.formatDateTime(this.slot.starts_at) })
          : desk.t("choose_slot");
      } else {
        nodes.confirm.textContent = ready ? desk.fill(desk.t("book_confirm"), {
          name: desk.personName(this.patient), time: desk.formatDateTime(this.slot.starts_at)
        }) : desk.t("choose_patient_and_slot");
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
      desk.status(this.nodes.status, "");
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
        request = desk.api("PATCH", "/appointments/" + encodeURIComponent(this.moving.id),
          { starts_at: slot.starts_at, provider_id: slot.provider_id });
      } else {
        request = desk.api("POST", "/appointments", {
          patient_id: this.patient.id, treatment: nodes.treatment.value,
          provider_id: slot.provider_id, starts_at: slot.starts_at
        });
      }
      request.then(function () {
        desk.status(nodes.status, desk.fill(desk.t(self.moving ? "moved" : "booked"),
          { time: desk.formatDateTime(slot.starts_at) }));
        self.moving = null;
        self.patient = null;
        self.clearSlots();
        return self.loadCalendar();
      }, function (error) {
        desk.showError(nodes.status, error.status === 409 ? desk.t("slot_taken") : error);
        self.paintBooking();
      });
    },
    cancel: function (appointment) {
      var self = this;
      var when = desk.formatDateTime(appointment.starts_at);
      if (!window.confirm(desk.fill(desk.t("cancel_confirm"), { time: when }))) {
        return;
      }
      desk.api("DELETE", "/appointments/" + encodeURIComponent(appointment.id)).then(function () {
        desk.status(self.nodes.status, desk.fill(desk.t("cancelled"),
          { time: desk.formatDateTime(appointment.starts_at) }));
        return self.loadCalendar();
      }, function (error) {
        desk.showError(self.nodes.status, error);
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
        this.nodes.clinical.clear();
      }
    }
  });
})();
