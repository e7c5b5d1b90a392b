/*
 * The staff dashboard's Clinic set-up (admin): working hours, providers, treatments, closures,
 * the profile.
 * Registers its sections with window.StaffDesk (staff.js), which signs in, talks to the API
 * and shows them; loaded after staff.js.
 */
(function () {
  "use strict";

  var desk = window.StaffDesk;
  var DAY_CODES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  // Python weekdays (Monday 0), listed from Sunday as the clinic's week starts.
  var WEEKDAYS = [6, 0, 1, 2, 3, 4, 5];

  // ---- Clinic set-up (admin): profile, providers and their hours, treatments, closures ----

  var PROFILE_FIELDS = [
    ["name_en", "profile_name_en", "text"], ["name_he", "profile_name_he", "text"],
    ["phone", "profile_phone", "tel"], ["urgent_line", "profile_urgent_line", "tel"],
    ["address_en", "profile_address_en", "text"], ["address_he", "profile_address_he", "text"],
    ["parking_en", "profile_parking_en", "area"], ["parking_he", "profile_parking_he", "area"],
    ["insurance_en", "profile_insurance_en", "area"],
    ["insurance_he", "profile_insurance_he", "area"],
    ["payment_en", "profile_payment_en", "area"], ["payment_he", "profile_payment_he", "area"],
    ["latitude", "profile_latitude", "number"], ["longitude", "profile_longitude", "number"]
  ];

  /* The flat field's value in the clinic's profile as the API returns it ({name: {en, he}}). */
  function profileValue(profile, name) {
    var match = /^(.*)_(en|he)$/.exec(name);
    if (match && profile[match[1]] && typeof profile[match[1]] === "object") {
      return profile[match[1]][match[2]];
    }
    if ((name === "latitude" || name === "longitude") && profile.location) {
      return profile.location[name];
    }
    return profile[name];
  }

  function panel(body, headingKey, id) {
    var box = desk.element("section", "card setup-panel");
    box.id = id;
    box.appendChild(desk.labelled("h2", "card__heading", headingKey));
    body.appendChild(box);
    return box;
  }

  function panelStatus(box) {
    var node = desk.element("p", "panel__status");
    node.setAttribute("role", "status");
    node.hidden = true;
    box.appendChild(node);
    return node;
  }

  /* Provider hours as weekday (Monday = 0) windows, from either spelling the API may use. */
  function windowsOf(provider) {
    return (provider.hours || provider.windows || []).map(function (window) {
      var weekday = typeof window.weekday === "number" ? window.weekday
        : DAY_CODES.indexOf(window.day);
      return {
        weekday: weekday,
        starts: String(window.starts || window.starts_at || "").slice(0, 5),
        ends: String(window.ends || window.ends_at || "").slice(0, 5)
      };
    });
  }

  desk.sections.setup = desk.section({
    clinic: null,
    build: function (body) {
      var self = this;
      var nodes = {};
      // Working hours first: the change a clinic makes most often.
      var hours = panel(body, "hours_heading", "setup-hours");
      nodes.hoursProvider = desk.element("select");
      nodes.hoursProvider.id = "hours-provider";
      hours.appendChild(desk.field("provider_label", nodes.hoursProvider));
      nodes.hoursRows = desk.element("ul", "hours-rows");
      nodes.hoursRows.id = "hours-rows";
      hours.appendChild(nodes.hoursRows);
      var hoursActions = desk.element("div", "panel__actions");
      var addWindow = desk.button("add_window", "secondary-button", "hours-add");
      var saveHours = desk.button("save_hours", "primary-button", "hours-save");
      hoursActions.appendChild(addWindow);
      hoursActions.appendChild(saveHours);
      hours.appendChild(hoursActions);
      nodes.hoursStatus = panelStatus(hours);
      nodes.hoursProvider.addEventListener("change", function () {
        self.paintHours();
      });
      addWindow.addEventListener("click", function () {
        self.addHoursRow({ weekday: 6, starts: "08:00", ends: "16:00" });
      });
      saveHours.addEventListener("click", function () {
        self.saveHours();
      });

      var providers = panel(body, "providers_heading", "setup-providers");
      nodes.providerList = desk.element("ul", "list");
      nodes.providerList.id = "provider-list";
      providers.appendChild(nodes.providerList);
      var addProvider = desk.element("form", "inline-form");
      addProvider.id = "provider-add";
      nodes.providerName = desk.input("text", "provider-name", { required: "" });
      nodes.providerNameHe = desk.input("text", "provider-name-he", { required: "", dir: "rtl" });
      nodes.providerRole = desk.element("select");
      nodes.providerRole.id = "provider-role";
      ["dentist", "hygienist"].forEach(function (role) {
        var node = desk.option(role, desk.t("provider_role_" + role));
        node.setAttribute("data-text", "provider_role_" + role);
        nodes.providerRole.appendChild(node);
      });
      addProvider.appendChild(desk.field("name_en_label", nodes.providerName));
      addProvider.appendChild(desk.field("name_he_label", nodes.providerNameHe));
      addProvider.appendChild(desk.field("provider_role_label", nodes.providerRole));
      var addProviderButton = desk.labelled("button", "primary-button", "add_provider");
      addProviderButton.type = "submit";
      addProvider.appendChild(addProviderButton);
      providers.appendChild(addProvider);
      nodes.providersStatus = panelStatus(providers);
      addProvider.addEventListener("submit", function (event) {
        event.preventDefault();
        self.change(nodes.providersStatus, "POST", "/clinic/providers", {
          name: nodes.providerName.value.trim(), name_he: nodes.providerNameHe.value.trim(),
          role: nodes.providerRole.value
        }, function () {
          addProvider.reset();
        });
      });

      var treatments = panel(body, "treatments_heading", "setup-treatments");
      nodes.treatmentList = desk.element("ul", "list");
      nodes.treatmentList.id = "treatment-list";
      treatments.appendChild(nodes.treatmentList);
      var addTreatment = desk.element("form", "inline-form");
      addTreatment.id = "treatment-add";
      nodes.treatmentCode = desk.input("text", "treatment-code",
        { required: "", dir: "ltr", pattern: "[a-z0-9_]{1,40}" });
      nodes.treatmentName = desk.input("text", "treatment-name", { required: "" });
      nodes.treatmentNameHe = desk.input("text", "treatment-name-he", { required: "", dir: "rtl" });
      nodes.treatmentMinutes = desk.input("number", "treatment-minutes",
        { min: "5", max: "480", step: "5", required: "" });
      nodes.treatmentPrice = desk.input("number", "treatment-price", { min: "0", step: "0.01" });
      addTreatment.appendChild(desk.field("treatment_code_label", nodes.treatmentCode));
      addTreatment.appendChild(desk.field("name_en_label", nodes.treatmentName));
      addTreatment.appendChild(desk.field("name_he_label", nodes.treatmentNameHe));
      addTreatment.appendChild(desk.field("duration_label", nodes.treatmentMinutes));
      addTreatment.appendChild(desk.field("price_label", nodes.treatmentPrice));
      var addTreatmentButton = desk.labelled("button", "primary-button", "save_treatment");
      addTreatmentButton.type = "submit";
      addTreatment.appendChild(addTreatmentButton);
      treatments.appendChild(addTreatment);
      nodes.treatmentsStatus = panelStatus(treatments);
      addTreatment.addEventListener("submit", function (event) {
        event.preventDefault();
        self.saveTreatment();
      });

      var closures = panel(body, "closures_heading", "setup-closures");
      nodes.closureList = desk.element("ul", "list");
      nodes.closureList.id = "closure-list";
      closures.appendChild(nodes.closureList);
      var addClosure = desk.element("form", "inline-form");
      addClosure.id = "closure-add";
      nodes.closureDay = desk.input("date", "closure-day", { required: "" });
      nodes.closureReason = desk.input("text", "closure-reason",
        { required: "", maxlength: "200" });
      addClosure.appendChild(desk.field("date_label", nodes.closureDay));
      addClosure.appendChild(desk.field("closure_reason_label", nodes.closureReason));
      var addClosureButton = desk.labelled("button", "primary-button", "add_closure");
      addClosureButton.type = "submit";
      addClosure.appendChild(addClosureButton);
      closures.appendChild(addClosure);
      nodes.closuresStatus = panelStatus(closures);
      addClosure.addEventListener("submit", function (event) {
        event.preventDefault();
        self.change(nodes.closuresStatus, "POST", "/clinic/closures", {
          day: nodes.closureDay.value, reason: nodes.closureReason.value.trim()
        }, function () {
          addClosure.reset();
        });
      });

      var profile = panel(body, "profile_heading", "setup-profile");
      var profileForm = desk.element("form", "profile-form");
      profileForm.id = "profile-form";
      nodes.profileInputs = {};
      PROFILE_FIELDS.forEach(function (spec) {
        var control = spec[2] === "area" ? desk.element("textarea") : desk.input(spec[2]);
        if (spec[2] === "area") {
          control.rows = 2;
        }
        if (spec[2] === "number") {
          control.step = "any";
        }
        control.id = "profile-" + spec[0].replace(/_/g, "-");
        control.dir = /_he$/.test(spec[0]) ? "rtl" : /_en$|phone|line|itude/.test(spec[0])
          ? "ltr" : "auto";
        nodes.profileInputs[spec[0]] = control;
        profileForm.appendChild(desk.field(spec[1], control));
      });
      var saveProfile = desk.labelled("button", "primary-button", "save_profile");
      saveProfile.type = "submit";
      profileForm.appendChild(saveProfile);
      profile.appendChild(profileForm);
      nodes.profileStatus = panelStatus(profile);
      profileForm.addEventListener("submit", function (event) {
        event.preventDefault();
        self.saveProfile();
      });
      this.nodes = nodes;
    },
    load: function () {
      var self = this;
      return Promise.all([
        desk.api("GET", "/clinic"), desk.api("GET", "/clinic/providers"),
        desk.api("GET", "/clinic/treatments"), desk.api("GET", "/clinic/closures")
      ]).then(function (results) {
        self.clinic = {
          profile: (results[0] && results[0].profile) || {},
          providers: desk.itemsOf(results[1]),
          treatments: desk.itemsOf(results[2]),
          closures: desk.itemsOf(results[3])
        };
        self.paint();
        self.fillProfile();
      }, function (error) {
        desk.showPageError(error);
      });
    },
    paint: function () {
      if (!this.clinic) {
        return;
      }
      this.paintProviders();
      this.paintTreatments();
      this.paintClosures();
    },
    /* A change through the set-up API, then everything reloaded (hours depend on providers). */
    change: function (target, method, path, body, done) {
      return desk.save(this, target, desk.api(method, path, body), done);
    },
    paintProviders: function () {
      var self = this;
      var list = this.nodes.providerList;
      var chosen = this.nodes.hoursProvider.value;
      list.textContent = "";
      this.nodes.hoursProvider.textContent = "";
      this.clinic.providers.forEach(function (provider) {
        self.nodes.hoursProvider.appendChild(desk.option(provider.id, desk.personName(provider)));
        var row = desk.element("li", "setup-row");
        row.dataset.id = provider.id;
        row.appendChild(desk.element("bdi", "setup-row__name", desk.personName(provider)));
        row.appendChild(desk.element("span", "muted", desk.t("provider_role_" + provider.role) ||
          provider.role));
        if (provider.active === false) {
          row.appendChild(desk.badge("inactive", "grey"));
        }
        var toggle = desk.button(provider.active === false ? "activate" : "deactivate",
          "text-button");
        toggle.addEventListener("click", function () {
          self.change(self.nodes.providersStatus, "PATCH",
            "/clinic/providers/" + encodeURIComponent(provider.id),
            { active: provider.active === false });
        });
        row.appendChild(toggle);
        list.appendChild(row);
      });
      if (chosen) {
        this.nodes.hoursProvider.value = chosen;
      }
      this.paintHours();
    },
    paintHours: function () {
      var self = this;
      var id = this.nodes.hoursProvider.value;
      var provider = this.clinic.providers.filter(function (item) {
        return String(item.id) === id;
      })[0];
      this.nodes.hoursRows.textContent = "";
      if (!provider) {
        return;
      }
      windowsOf(provider).sort(function (a, b) {
        return WEEKDAYS.indexOf(a.weekday) - WEEKDAYS.indexOf(b.weekday) ||
          (a.starts < b.starts ? -1 : 1);
      }).forEach(function (window) {
        self.addHoursRow(window);
      });
    },
    addHoursRow: function (window) {
      var row = desk.element("li", "hours-row");
      var day = desk.element("select", "hours-row__day");
      day.setAttribute("aria-label", desk.t("weekday_label"));
      day.setAttribute("data-label", "weekday_label");
      WEEKDAYS.forEach(function (weekday) {
        var node = desk.option(weekday, desk.t("weekday_" + weekday));
        node.setAttribute("data-text", "weekday_" + weekday);
        day.appendChild(node);
      });
      day.value = String(window.weekday);
      var starts = desk.input("time", null, { step: "300" });
      starts.className = "hours-row__starts";
      starts.value = window.starts;
      starts.setAttribute("aria-label", desk.t("starts_label"));
      starts.setAttribute("data-label", "starts_label");
      var ends = desk.input("time", null, { step: "300" });
      ends.className = "hours-row__ends";
      ends.value = window.ends;
      ends.setAttribute("aria-label", desk.t("ends_label"));
      ends.setAttribute("data-label", "ends_label");
      var remove = desk.button("remove", "text-button text-button--danger");
      remove.addEventListener("click", function () {
        row.remove();
      });
      row.appendChild(day);
      row.appendChild(starts);
      row.appendChild(ends);
      row.appendChild(remove);
      this.nodes.hoursRows.appendChild(row);
    },
    saveHours: function () {
      var nodes = this.nodes;
      var windows = [];
      var bad = false;
      Array.prototype.forEach.call(nodes.hoursRows.children, function (row) {
        var starts = row.querySelector(".hours-row__starts").value;
        var ends = row.querySelector(".hours-row__ends").value;
        if (!starts || !ends || starts >= ends) {
          bad = true;
        }
        windows.push({
          weekday: +row.querySelector(".hours-row__day").value, starts: starts, ends: ends
        });
      });
      if (bad) {
        desk.showError(nodes.hoursStatus, desk.t("hours_invalid"));
        return;
      }
      this.change(nodes.hoursStatus, "PUT",
        "/clinic/providers/" + encodeURIComponent(nodes.hoursProvider.value) + "/hours",
        { windows: windows });
    },
    paintTreatments: function () {
      var self = this;
      var list = this.nodes.treatmentList;
      list.textContent = "";
      this.clinic.treatments.forEach(function (treatment) {
        var row = desk.element("li", "setup-row");
        row.dataset.code = treatment.code;
        row.appendChild(desk.element("bdi", "setup-row__name", desk.personName(treatment)));
        var code = desk.element("code", "muted", treatment.code);
        row.appendChild(code);
        row.appendChild(desk.element("span", "muted", desk.fill(desk.t("minutes"),
          { minutes: treatment.duration_minutes })));
        var edit = desk.button("edit", "text-button");
        edit.addEventListener("click", function () {
          var nodes = self.nodes;
          nodes.treatmentCode.value = treatment.code;
          nodes.treatmentCode.readOnly = true;
          nodes.treatmentName.value = treatment.name;
          nodes.treatmentNameHe.value = treatment.name_he;
          nodes.treatmentMinutes.value = treatment.duration_minutes;
          nodes.treatmentPrice.value = treatment.price === undefined ? "" : treatment.price;
          nodes.treatmentName.focus();
        });
        var remove = desk.button("remove", "text-button text-button--danger");
        remove.addEventListener("click", function () {
          var question = desk.fill(desk.t("remove_confirm"), { name: desk.personName(treatment) });
          if (window.confirm(question)) {
            self.change(self.nodes.treatmentsStatus, "DELETE",
              "/clinic/treatments/" + encodeURIComponent(treatment.code));
          }
        });
        row.appendChild(edit);
        row.appendChild(remove);
        list.appendChild(row);
      });
    },
    saveTreatment: function () {
      var nodes = this.nodes;
      var editing = nodes.treatmentCode.readOnly;
      var body = {
        name: nodes.treatmentName.value.trim(),
        name_he: nodes.treatmentNameHe.value.trim(),
        duration_minutes: +nodes.treatmentMinutes.value
      };
      if (nodes.treatmentPrice.value !== "") {
        body.price = nodes.treatmentPrice.value;
      }
      var done = function () {
        nodes.treatmentCode.readOnly = false;
        nodes.treatmentCode.form.reset();
      };
      if (editing) {
        this.change(nodes.treatmentsStatus, "PATCH",
          "/clinic/treatments/" + encodeURIComponent(nodes.treatmentCode.value), body, done);
      } else {
        body.code = nodes.treatmentCode.value.trim();
        if (body.price === undefined) {
          body.price = "0";
        }
        this.change(nodes.treatmentsStatus, "POST", "/clinic/treatments", body, done);
      }
    },
    paintClosures: function () {
      var self = this;
      var list = this.nodes.closureList;
      list.textContent = "";
      if (!this.clinic.closures.length) {
        desk.emptyRow(list, "no_closures");
      }
      this.clinic.closures.forEach(function (closure) {
        var row = desk.element("li", "setup-row");
        row.appendChild(desk.element("span", "setup-row__name", desk.formatDay(closure.day)));
        row.appendChild(desk.element("bdi", "muted", closure.reason || ""));
        var remove = desk.button("remove", "text-button text-button--danger");
        remove.addEventListener("click", function () {
          self.change(self.nodes.closuresStatus, "DELETE",
            "/clinic/closures/" + encodeURIComponent(closure.day));
        });
        row.appendChild(remove);
        list.appendChild(row);
      });
    },
    fillProfile: function () {
      var profile = this.clinic.profile;
      var inputs = this.nodes.profileInputs;
      Object.keys(inputs).forEach(function (name) {
        var value = profileValue(profile, name);
        inputs[name].value = value === undefined || value === null ? "" : value;
      });
    },
    saveProfile: function () {
      var inputs = this.nodes.profileInputs;
      var body = {};
      Object.keys(inputs).forEach(function (name) {
        var value = inputs[name].value.trim();
        if (inputs[name].type === "number") {
          if (value !== "") {
            body[name] = +value;
          }
        } else {
          body[name] = value;
        }
      });
      this.change(this.nodes.profileStatus, "PUT", "/clinic/profile", body);
    },
    reset: function () {
      this.clinic = null;
    }
  });
})();
