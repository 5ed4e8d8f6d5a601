// Render each [data-bpmn-diagram] with bpmn-js's NavigatedViewer and mark current and completed steps.
(function () {
  document.querySelectorAll("[data-bpmn-diagram]").forEach(function (container) {
    var source = document.getElementById(container.dataset.bpmnDiagram);
    var data = JSON.parse(source.textContent);
    var viewer = new window.BpmnJS({ container: container });
    viewer.importXML(data.xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport", "auto");
      (data.done || []).forEach(function (id) {
        if (registry.get(id)) canvas.addMarker(id, "step-done");
      });
      (data.current || []).forEach(function (id) {
        if (registry.get(id)) canvas.addMarker(id, "step-current");
      });
      container.classList.add("is-loaded");
    }).catch(function () {
      container.classList.add("is-failed");
      container.textContent = container.dataset.errorText;
    });
  });
})();
