// Task forms: render the task's form-js definition in the page's language, show the server's field errors on
// their fields (and rows) until the user changes them, and post the form's data as JSON with the page's own
// buttons (complete, or save a draft without client validation).
(function () {
  "use strict";

  var source = document.getElementById("task-form-definition");
  var container = document.getElementById("task-form-container");
  var page = document.getElementById("task-form");
  if (!source || !container || !page) return;
  var dataField = document.getElementById("form-data-field");
  var spec = JSON.parse(source.textContent);
  var texts = readJson("task-form-texts") || {};
  var messages = texts.messages || {};

  // Calendar names for flatpickr (bundled in form-js); form-js takes the date format from the browser's locale.
  var CALENDARS = {
    zh: {
      weekdays: {
        shorthand: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
        longhand: ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"]
      },
      months: {
        shorthand: ["1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月"],
        longhand: ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]
      },
      firstDayOfWeek: 1,
      rangeSeparator: " 至 ",
      weekAbbreviation: "周",
      scrollTitle: "滚动切换",
      toggleTitle: "点击切换 12/24 小时制",
      monthAriaLabel: "月份",
      yearAriaLabel: "年份",
      hourAriaLabel: "时",
      minuteAriaLabel: "分"
    }
  };

  // form-js's own fixed English texts -> the page's message key; {0}, {1} are the numbers in them.
  var FIXED_TEXTS = [
    [/^Add new$/, "add"],
    [/^Remove list item (\d+)$/, "remove_row"],
    [/^Expand all \((\d+)\)$/, "expand"],
    [/^Collapse$/, "collapse"],
    [/^Search$/, "search"],
    [/^Select$/, "select"],
    [/^No results$/, "no_results"],
    [/^Date and time must both be entered\.$/, "date_and_time"]
  ];
  // form-js's validation messages -> the page's message key (the server says the same in the same words).
  var VALIDATION_TEXTS = [
    [/^Field must have maximum length of (.+)\.$/, "max_length"],
    [/^Field must have minimum length of (.+)\.$/, "min_length"],
    [/^Field must have maximum value of (.+)\.$/, "max"],
    [/^Field must have minimum value of (.+)\.$/, "min"],
    [/^Field must match pattern /, "pattern"],
    [/^Field must be a valid email\.$/, "email"],
    [/^Field must be a valid +international phone number/, "phone"],
    [/^Value is not a number\.$/, "number"],
    [/^Value is expected to be an integer\.$/, "integer"],
    [/^Value is expected to have at most (\d+) decimal digit/, "decimals"],
    [/^Please select a valid value, the two nearest valid values are (.+) and (.+)\.$/, "increment"]
  ];
  var CHOICE_TYPES = ["select", "radio", "checkbox", "checklist", "taglist"];

  function readJson(id) {
    var element = document.getElementById(id);
    if (!element) return null;
    try { return JSON.parse(element.textContent); } catch (error) { return null; }
  }

  function fill(template, values) {
    return String(template).replace(/\{(\d+|label)\}/g, function (whole, name) {
      return values[name] !== undefined ? values[name] : whole;
    });
  }

  function translated(text, table) {
    for (var i = 0; i < table.length; i += 1) {
      var match = table[i][0].exec(text);
      if (match && messages[table[i][1]]) return fill(messages[table[i][1]], match.slice(1));
    }
    return null;
  }

  function submitButtons() {
    return page.querySelectorAll("button[type=submit]");
  }

  function broken(error) {
    container.classList.add("is-failed");
    container.textContent = container.dataset.errorText || String(error);
    submitButtons().forEach(function (button) { button.disabled = true; });
  }

  if (!window.FormViewer) {
    broken("form-js is not loaded");
    return;
  }

  // The definition's own labels in the page's language, where the catalogue has them.
  function translateSchema(component) {
    var labels = texts.labels || {};
    ["label", "dateLabel", "timeLabel", "text", "description"].forEach(function (name) {
      if (typeof component[name] === "string" && labels[component[name]]) component[name] = labels[component[name]];
    });
    (Array.isArray(component.values) ? component.values : []).forEach(function (option) {
      if (option && typeof option.label === "string" && labels[option.label]) option.label = labels[option.label];
    });
    (component.components || []).forEach(translateSchema);
    return component;
  }

  var schema = translateSchema(JSON.parse(JSON.stringify(spec.schema)));
  var language = (document.documentElement.lang || "").split("-")[0];
  if (window.flatpickr && CALENDARS[language]) window.flatpickr.localize(CALENDARS[language]);

  var form = new window.FormViewer.Form({
    container: container,
    debounce: false,  // every keystroke is in the data, whenever the page's buttons are pressed
    properties: { readOnly: Boolean(spec.readonly) }
  });
  var registry = form.get("formFieldRegistry");

  // Server errors by field: "plan_items.1.date" -> the date field of row 2, as form-js addresses errors
  // ([field id, row index, ...]).
  function fieldPatterns(components, prefix, lists, into) {
    (components || []).forEach(function (component) {
      var path = component.path ? String(component.path).split(".") : [];
      if (component.type === "dynamiclist" && component.isRepeating) {
        fieldPatterns(component.components, prefix.concat(path, ["#"]), lists.concat([component.id]), into);
      } else if (component.type === "group" || component.type === "dynamiclist") {
        fieldPatterns(component.components, prefix.concat(path), lists, into);
      } else if (component.key) {
        into.push({ id: component.id, lists: lists, parts: prefix.concat(String(component.key).split(".")) });
      }
    });
    return into;
  }

  function serverErrors() {
    var fields = fieldPatterns(spec.schema.components, [], [], []);
    var found = [];
    Object.keys(spec.errors || {}).forEach(function (path) {
      var parts = path.split(".");
      fields.forEach(function (f) {
        if (f.parts.length !== parts.length) return;
        var indexes = [];
        for (var i = 0; i < parts.length; i += 1) {
          if (f.parts[i] === "#") {
            if (!/^\d+$/.test(parts[i])) return;
            indexes.push(Number(parts[i]));
          } else if (f.parts[i] !== parts[i]) {
            return;
          }
        }
        found.push({ path: path, id: f.id, lists: f.lists, indexes: indexes, messages: spec.errors[path] });
      });
    });
    return found;
  }

  var pending = serverErrors();

  function errorKey(id, indexes) {
    return id + "|" + indexes.join(".");
  }

  function valueAt(data, path) {
    var value = data;
    (path || []).forEach(function (part) { value = value == null ? undefined : value[part]; });
    return value;
  }

  function setAt(target, path, value) {
    var node = target;
    for (var i = 0; i < path.length - 1; i += 1) {
      if (node[path[i]] == null || typeof node[path[i]] !== "object") node[path[i]] = {};
      node = node[path[i]];
    }
    node[path[path.length - 1]] = value;
  }

  // The client's messages in the page's language; the server's instead, until the user changes the field.
  // form-js validates a change before it stores the value, so a value other than the stored one is a change —
  // once the user has touched the form (before that, form-js only normalises what it was opened with, e.g. an
  // impossible date to none, and its date picker sends events of its own). Adding or removing rows moves the
  // rows' fields, so their server messages go.
  var validator = form.get("validator");
  var validateInstance = validator.validateFieldInstance.bind(validator);
  var submitting = false;
  var touched = false;
  ["input", "change", "keydown", "mousedown", "paste", "drop"].forEach(function (type) {
    container.addEventListener(type, function (event) { touched = touched || event.isTrusted; }, true);
  });
  validator.validateFieldInstance = function (instance, value) {
    var field = registry.get(instance.id) || {};
    var label = field.label || field.dateLabel || field.timeLabel || field.key || "";
    var result = validateInstance(instance, value).map(function (message) {
      if (message === "Field is required.") {
        var key = CHOICE_TYPES.indexOf(field.type) >= 0 ? "choose" : "required";
        return messages[key] ? fill(messages[key], { label: label }) : message;
      }
      return translated(message, VALIDATION_TEXTS) || message;
    });
    var rules = field.validate || {};
    if (rules.required && typeof value === "string" && value !== "" && !value.trim() && messages.required) {
      result.push(fill(messages.required, { label: label }));  // the server trims text: blanks are no answer
    }
    if (submitting) return result;
    var changed = touched &&
      JSON.stringify(value) !== JSON.stringify(valueAt(form._getState().data, instance.valuePath));
    var key = errorKey(instance.id, Object.values(instance.indexes || {}));
    var server = null;
    pending.forEach(function (entry) {
      if (changed && field.type === "dynamiclist" && entry.lists.indexOf(instance.id) >= 0) entry.cleared = true;
      if (entry.cleared || errorKey(entry.id, entry.indexes) !== key) return;
      if (changed) entry.cleared = true;
      else server = entry.messages.slice();
    });
    return server || result;
  };

  // form-js's built-in English texts (buttons, placeholders, list messages) in the page's language.
  function localize() {
    var walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      var text = node.data.trim();
      if (!text || /[^\x20-\x7e]/.test(text)) continue;
      var replaced = translated(text, FIXED_TEXTS);
      if (replaced !== null && replaced !== node.data) node.data = replaced;
    }
    container.querySelectorAll("[placeholder], [aria-label]").forEach(function (element) {
      ["placeholder", "aria-label"].forEach(function (name) {
        var value = element.getAttribute(name);
        var replaced = value && translated(value, FIXED_TEXTS);
        if (replaced && replaced !== value) element.setAttribute(name, replaced);
      });
    });
    container.querySelectorAll(".fjs-repeat-row-remove").forEach(function (button) {
      if (button.title !== button.getAttribute("aria-label")) button.title = button.getAttribute("aria-label") || "";
    });
  }
  new MutationObserver(localize).observe(container, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["placeholder", "aria-label"]
  });

  // The element showing a field of a row, by form-js's DOM ids ("fjs-form-<form>-<field>_<row>…").
  function fieldElement(entry) {
    var prefix = "fjs-form-" + form._id + "-" + entry.id + entry.indexes.map(function (i) { return "_" + i; }).join("");
    var candidates = container.querySelectorAll("input, textarea, [id]");
    for (var i = 0; i < candidates.length; i += 1) {
      var id = candidates[i].id;
      if (id === prefix || id.indexOf(prefix + "-") === 0) return candidates[i];
    }
    return null;
  }

  function linkSummary() {
    document.querySelectorAll("[data-field-error]").forEach(function (item) {
      var entry = pending.filter(function (e) { return e.path === item.dataset.fieldError; })[0];
      if (!entry) return;
      item.classList.add("task-form-error-link");
      item.addEventListener("click", function () {
        var target = fieldElement(entry);
        if (!target) return;
        target.scrollIntoView({ block: "center" });
        if (target.focus && !target.disabled && !target.readOnly) target.focus({ preventScroll: true });
      });
    });
  }

  form.importSchema(schema, spec.data || {}).then(function () {
    var errors = {};
    pending.forEach(function (entry) { setAt(errors, [entry.id].concat(entry.indexes), entry.messages.slice()); });
    if (pending.length) form._setState({ errors: errors });
    container.classList.add("is-loaded");
    if (spec.readonly) container.classList.add("is-readonly");
    localize();
    linkSummary();
  }).catch(broken);

  // The page's buttons post the form's data; complete checks it first, a draft is kept as it is.
  page.addEventListener("submit", function (event) {
    if (event.target !== page || spec.readonly) return;
    if (!container.classList.contains("is-loaded")) {  // nothing to send yet (or the form could not be shown)
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var draft = Boolean(event.submitter && event.submitter.hasAttribute("data-draft"));
    var result;
    if (draft && typeof form._getSubmitData === "function") {
      result = { data: form._getSubmitData(), errors: {} };
    } else {
      submitting = true;
      try { result = form.submit(); } finally { submitting = false; }
    }
    if (!draft && Object.keys(result.errors).length) {
      event.preventDefault();
      event.stopImmediatePropagation();  // data-once (app.js) must not lock the buttons: the user corrects, sends again
      window.setTimeout(function () {
        var first = container.querySelector(".fjs-has-errors input:not([type=hidden]), .fjs-has-errors textarea");
        if (!first) return;
        first.scrollIntoView({ block: "center" });
        // a date field would open its calendar over the message: it is only brought into view
        if (!first.classList.contains("flatpickr-input")) first.focus({ preventScroll: true });
      }, 0);
      return;
    }
    dataField.value = JSON.stringify(result.data);
  }, true);
})();
