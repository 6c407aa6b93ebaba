// Live countdown for the queue and the ticket page: every [data-due] shows the time left and
// turns "soon" (last quarter of the SLA) or "breached". No libraries.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="sla-soon-s"]');
  var soon = meta ? parseInt(meta.content, 10) : 21600;
  function fmt(s) {
    s = Math.abs(Math.floor(s / 60));
    var h = Math.floor(s / 60), m = s % 60;
    return h + "h " + (m < 10 ? "0" : "") + m + "m";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      var cls = left < 0 ? "breached" : (left < soon ? "soon" : "ok");
      el.textContent = left < 0 ? "over by " + fmt(left) : fmt(left) + " left";
      ["ok", "soon", "breached"].forEach(function (c) { el.classList.toggle(c, c === cls); });
      var row = el.closest("tr.row");
      if (row) { ["ok", "soon", "breached"].forEach(function (c) { row.classList.toggle(c, c === cls); }); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
