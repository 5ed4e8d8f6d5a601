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
