// Page behaviour lives here, not in inline handlers: the Content-Security-Policy runs no inline code.

// A form or submit button marked data-confirm asks first; cancelling also keeps data-once from locking the form.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var submitter = event.submitter;
  var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
});

// Forms marked data-once: disable their buttons after the first submit (no double submits by double click).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) return;
  if (form.dataset.submitted === "1") { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  window.setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  }, 0);
});

// Filter fields marked data-autosubmit send their form as soon as they change.
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.form && field.hasAttribute("data-autosubmit")) field.form.submit();
});

// Links marked data-history-back go back a page when there is one (their href is the fallback).
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("[data-history-back]") : null;
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});

// A form kept when the session ran out comes back filled in: the fields of the form sent to the same address.
(function () {
  var data = document.getElementById("kept-form");
  if (!data) return;
  var kept;
  try { kept = JSON.parse(data.textContent); } catch (error) { return; }
  var form = Array.prototype.find.call(document.forms, function (candidate) {
    return (candidate.method || "").toLowerCase() === "post" && new URL(candidate.action, window.location.href).pathname === kept.action;
  });
  if (!form) return;
  var values = {};
  kept.fields.forEach(function (pair) { (values[pair[0]] = values[pair[0]] || []).push(pair[1]); });
  Object.keys(values).forEach(function (name) {
    var fields = form.querySelectorAll("[name='" + CSS.escape(name) + "']");
    fields.forEach(function (field, index) {
      if (field.type === "hidden" || field.type === "file" || field.type === "password") return;
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = values[name].indexOf(field.value) !== -1;
      } else if (field.tagName === "SELECT" && field.multiple) {
        Array.prototype.forEach.call(field.options, function (option) { option.selected = values[name].indexOf(option.value) !== -1; });
      } else if (index < values[name].length) {
        field.value = values[name][index];
      }
    });
  });
})();
