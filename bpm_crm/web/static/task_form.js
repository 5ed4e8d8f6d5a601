// Task forms: render the task's form-js definition, show the server's field errors on their fields,
// and post the form's data as JSON with the page's own buttons (complete, or save as draft).
(function () {
  var source = document.getElementById("task-form-definition");
  var container = document.getElementById("task-form-container");
  var page = document.getElementById("task-form");
  if (!source || !container || !page || !window.FormViewer) return;
  var spec = JSON.parse(source.textContent);
  var form = new window.FormViewer.Form({ container: container });
  var field = document.getElementById("form-data-field");

  // "plan_items.1.date" -> form-js's error address: [field id, row index, ...].
  function errorAddresses(components, prefix, rowsOf, into) {
    (components || []).forEach(function (component) {
      if (component.type === "dynamiclist") {
        errorAddresses(component.components, "", rowsOf.concat([prefix + component.path]), into);
      } else if (component.type === "group") {
        errorAddresses(component.components, component.path ? prefix + component.path + "." : prefix, rowsOf, into);
      } else if (component.key) {
        into.push({ id: component.id, key: prefix + component.key, rows: rowsOf });
      }
    });
    return into;
  }

  function serverErrors() {
    var errors = {};
    var fields = errorAddresses(spec.schema.components, "", [], []);
    Object.keys(spec.errors || {}).forEach(function (path) {
      var parts = path.split(".");
      fields.forEach(function (f) {
        // A row field: "<list>.<index>.<key>"; a plain field: "<key>".
        var match = f.rows.length
          ? parts.length === 3 && parts[0] === f.rows[0] && parts[2] === f.key && /^\d+$/.test(parts[1])
          : path === f.key;
        if (!match) return;
        if (f.rows.length) {
          errors[f.id] = errors[f.id] || [];
          errors[f.id][Number(parts[1])] = spec.errors[path];
        } else {
          errors[f.id] = spec.errors[path];
        }
      });
    });
    return errors;
  }

  form.importSchema(spec.schema, spec.data || {}).then(function () {
    if (spec.readonly) form.setProperty("readOnly", true);
    var errors = serverErrors();
    if (Object.keys(errors).length && typeof form._setState === "function") form._setState({ errors: errors });
    container.classList.add("is-loaded");
  }).catch(function (error) {
    container.classList.add("is-failed");
    container.textContent = container.dataset.errorText || String(error);
  });

  page.addEventListener("submit", function (event) {
    if (spec.readonly) return;
    var saving = event.submitter && event.submitter.dataset.draft !== undefined;
    var result = form.submit();
    if (!saving && Object.keys(result.errors).length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      var first = container.querySelector(".fjs-has-errors input, .fjs-has-errors textarea, .fjs-has-errors select");
      if (first) first.focus();
      return;
    }
    field.value = JSON.stringify(result.data);
  }, true);
})();
