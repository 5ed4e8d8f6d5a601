// Approval pages: a refusal needs its reason before it is sent; on 待我审批, tick approvals to approve together.
(function () {
  "use strict";

  // 拒绝 with an empty comment: say so beside the comment instead of sending (the server refuses it too).
  // Capturing, so the check runs before app.js locks the form against a second submit.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "decide-form" || !event.submitter || !event.submitter.hasAttribute("data-needs-comment")) return;
    var comment = form.elements["comment"];
    if (comment.value.trim()) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    comment.classList.add("is-invalid");
    var hint = document.getElementById("reject-reason-needed");
    if (hint) hint.classList.add("d-block");
    comment.focus();
  }, true);

  document.addEventListener("input", function (event) {
    if (event.target.id !== "decision-comment") return;
    event.target.classList.remove("is-invalid");
    var hint = document.getElementById("reject-reason-needed");
    if (hint) hint.classList.remove("d-block");
  });

  // Batch approval: "select all", the count of ticked rows and the button that approves them.
  var batch = document.getElementById("batch-form");
  if (!batch) return;
  var all = document.getElementById("batch-all");
  var button = document.getElementById("batch-approve");
  var count = document.getElementById("batch-count");
  var template = count ? count.getAttribute("data-template") : "";
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("input[name=task_ids][form=batch-form]")); }
  function update() {
    var ticked = boxes().filter(function (box) { return box.checked; }).length;
    button.disabled = ticked === 0;
    if (count) count.textContent = template.replace("{count}", String(ticked));
    if (all) {
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    }
  }
  if (all) all.addEventListener("change", function () {
    boxes().forEach(function (box) { box.checked = all.checked; });
    update();
  });
  boxes().forEach(function (box) { box.addEventListener("change", update); });
  update();
})();
