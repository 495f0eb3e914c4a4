// tablesync console: live values without reloading the page, under a strict CSP.
// - "2s ago" in every <time data-ago> ticks each second;
// - a running run's page polls its JSON record and moves its bar, rows, rate and ETA;
//   when the run ends, the page's regions are fetched again (the row at fault shows);
// - the overview fetches itself every few seconds and swaps its rows in place.
// Only textContent is set from JSON, and swapped regions come from this console's own
// escaped HTML, parsed inert (DOMParser runs no script), so data never becomes markup.
"use strict";

(function () {
  var UNITS = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];

  // The same words as services.base.durations.format_duration.
  function duration(seconds) {
    if (seconds <= 0) { return "0s"; }
    if (seconds < 1) { return "<1s"; }
    var left = Math.round(seconds), parts = [];
    UNITS.forEach(function (unit) {
      var count = Math.floor(left / unit[1]);
      left -= count * unit[1];
      if (count || parts.length) { parts.push([count, unit[0]]); }
    });
    return parts.slice(0, 2).filter(function (p) { return p[0]; }).map(function (p) { return p[0] + p[1]; }).join("");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-ago]").forEach(function (node) {
      var at = Date.parse(node.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      var stamp = node.getAttribute("datetime").replace("T", " ");
      node.textContent = stamp + " (" + duration((now - at) / 1000) + " ago)";
    });
  }
  tick();
  window.setInterval(tick, 1000);

  function getHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { if (!response.ok) { throw new Error("HTTP " + response.status); } return response.text(); })
      .then(function (text) { return new DOMParser().parseFromString(text, "text/html"); });
  }

  // Replace each [data-region] of the page by the one of the same name in ``doc``.
  function swapRegions(doc) {
    document.querySelectorAll("[data-region]").forEach(function (node) {
      var fresh = doc.querySelector('[data-region="' + node.dataset.region + '"]');
      if (fresh) { node.replaceWith(document.importNode(fresh, true)); }
    });
    tick();
  }

  function number(value) { return value === null || value === undefined ? "-" : Number(value).toLocaleString("en-US"); }
  function whole(value) { return value === null || value === undefined ? "-" : Math.round(Number(value)).toLocaleString("en-US"); }
  function set(id, text) { var node = document.getElementById(id); if (node) { node.textContent = text; } }

  function runPage(box) {
    var url = box.dataset.runUrl;
    function show(run) {
      var status = document.getElementById("run-status");
      status.textContent = run.status;
      status.className = "badge " + run.status;
      ["rows_read", "rows_created", "rows_updated", "rows_skipped", "rows_deleted", "rows_errors"].forEach(function (key) { set(key, number(run[key])); });
      var p = run.progress, meter = document.getElementById("run-meter");
      set("run-progress", p.text);
      set("run-rate", whole(p.rows_per_s));
      set("run-eta", p.eta_s === null ? "-" : duration(p.eta_s));
      set("run-duration", duration(run.duration_s));
      if (meter) {
        if (p.percent === null) { meter.removeAttribute("value"); } else { meter.value = p.percent; }
      }
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { if (!response.ok) { throw new Error("HTTP " + response.status); } return response.json(); })
        .then(function (run) {
          show(run);
          if (run.status === "running") { window.setTimeout(poll, 1000); return; }
          // Over: the page as the server draws a finished run (row at fault, advice).
          return getHtml(window.location.href).then(swapRegions);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 500);
  }

  var box = document.getElementById("run");
  if (box && box.dataset.status === "running") { runPage(box); }

  var live = document.querySelector("[data-refresh-s]");
  if (live) {
    var every = Math.max(Number(live.dataset.refreshS) || 5, 1) * 1000;
    var refresh = function () {
      getHtml(window.location.href).then(swapRegions).catch(function () { return null; })
        .then(function () { window.setTimeout(refresh, every); });
    };
    window.setTimeout(refresh, every);
  }
})();
