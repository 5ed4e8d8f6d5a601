// The decision-table grid: add, remove and move rules in the page; the rule numbers follow. Saving is the form's post.
(function () {
  var grid = document.getElementById("decision-grid");
  var template = document.getElementById("decision-row-template");
  if (!grid || !template) return;
  var body = grid.tBodies[0];
  var maxRows = parseInt(grid.getAttribute("data-max-rows"), 10) || 100;
  var addButton = document.querySelector("[data-grid-action='add']");
  var count = document.getElementById("grid-count");

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[data-rule]")); }

  function renumber() {
    var all = rows();
    all.forEach(function (row, index) {
      row.querySelector("[data-rule-number]").textContent = index + 1;
      row.querySelector("[data-grid-action='up']").disabled = index === 0;
      row.querySelector("[data-grid-action='down']").disabled = index === all.length - 1;
      row.querySelector("[data-grid-action='remove']").disabled = all.length === 1;
    });
    if (count) count.textContent = all.length;
    if (addButton) addButton.disabled = all.length >= maxRows;
  }

  function flash(row) {
    row.classList.remove("is-moved");
    void row.offsetWidth;  // restart the highlight
    row.classList.add("is-moved");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-grid-action]") : null;
    if (!button) return;
    var action = button.getAttribute("data-grid-action");
    var row = button.closest("tr[data-rule]");
    if (action === "add") {
      if (rows().length >= maxRows) return;
      var added = template.content.querySelector("tr").cloneNode(true);
      body.appendChild(added);
      renumber();
      flash(added);
      added.querySelector("input, select").focus();
    } else if (row && action === "remove" && rows().length > 1) {
      row.remove();
      renumber();
    } else if (row && action === "up" && row.previousElementSibling) {
      body.insertBefore(row, row.previousElementSibling);
      renumber();
      flash(row);
      button.focus();
    } else if (row && action === "down" && row.nextElementSibling) {
      body.insertBefore(row.nextElementSibling, row);
      renumber();
      flash(row);
      button.focus();
    }
  });

  renumber();
})();
