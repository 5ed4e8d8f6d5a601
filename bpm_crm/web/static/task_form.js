// Development plan rows: add and remove rows, keeping names numbered plan_items-0-…, plan_items-1-…
(function () {
  var body = document.getElementById("plan-rows");
  var template = document.getElementById("plan-row-template");
  var add = document.getElementById("add-plan-row");
  if (!body || !template || !add) return;
  var prefix = body.dataset.rowPrefix;
  var pattern = new RegExp("^" + prefix + "-(\\d+|__i__)-");

  function renumber() {
    body.querySelectorAll("tr[data-plan-row]").forEach(function (row, index) {
      row.querySelectorAll("[name]").forEach(function (field) {
        field.name = field.name.replace(pattern, prefix + "-" + index + "-");
      });
    });
  }

  add.addEventListener("click", function () {
    body.appendChild(template.content.cloneNode(true));
    renumber();
    var rows = body.querySelectorAll("tr[data-plan-row]");
    var input = rows[rows.length - 1].querySelector("input, textarea");
    if (input) input.focus();
  });

  body.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    button.closest("tr").remove();
    renumber();
  });
})();
