// tablesync console: live progress on a run's page, by polling its JSON record.
// Only textContent is ever set, so nothing a run record holds can become markup.
"use strict";

(function () {
  var box = document.getElementById("run");
  if (!box || box.dataset.status !== "running") { return; }
  var url = box.dataset.runUrl;
  var cursor = box.dataset.cursor || "value";
  var idFields = JSON.parse(box.dataset.idFields || "[]");

  function number(value) { return value === null || value === undefined ? "-" : Number(value).toLocaleString("en-US"); }
  function seconds(value) { return value === null || value === undefined ? "-" : Number(value).toFixed(2) + "s"; }
  function position(value) {
    if (!value || value.value === null || value.value === undefined) { return "(start)"; }
    var text = cursor + "=" + value.value;
    if (value.id === null || value.id === undefined) { return text; }
    var ids = Array.isArray(value.id) ? value.id : [value.id];
    var names = idFields.length === ids.length ? idFields : ["id"];
    ids.forEach(function (id, i) { text += " " + (names[i] || "id") + "=" + id; });
    return text;
  }
  function set(id, text) { var node = document.getElementById(id); if (node) { node.textContent = text; } }

  function show(run) {
    var status = document.getElementById("run-status");
    status.textContent = run.status;
    status.className = "badge " + run.status;
    box.dataset.status = run.status;
    ["rows_read", "rows_created", "rows_updated", "rows_skipped", "rows_deleted", "rows_errors"].forEach(function (key) { set(key, number(run[key])); });
    set("run-progress", run.progress.text);
    set("run-eta", seconds(run.progress.eta_s));
    set("run-duration", seconds(run.duration_s));
    set("run-after", position(run.cursor_after));
    // The record says 2026-12-01T10:00:00.123+00:00; the page says 2026-12-01 10:00:00Z.
    if (run.finished_at) { set("run-finished", run.finished_at.replace("T", " ").slice(0, 19) + "Z"); }
    if (run.error_text) {
      var error = document.getElementById("run-error");
      error.textContent = run.error_text;
      error.hidden = false;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error("HTTP " + response.status); } return response.json(); })
      .then(function (run) {
        show(run);
        if (run.status === "running") { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
