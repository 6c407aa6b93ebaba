// Live countdown for the queue and the ticket page: every [data-due] shows the time left and
// turns "soon" (last quarter of the SLA) or "breached". No libraries.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="sla-soon-s"]');
  var soon = meta ? parseInt(meta.content, 10) : 21600;
  // The words come from the page (the message catalogue, in the officer's language): "{time} left" ...
  function words(name, fallback) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.content : fallback;
  }
  var LEFT = words("clock-left", "{time} left"), OVER = words("clock-over", "over by {time}");
  var HM = words("clock-hm", "{h}h {m}m");
  function fmt(s) {
    s = Math.abs(Math.floor(s / 60));
    var h = Math.floor(s / 60), m = s % 60;
    return HM.replace("{h}", h).replace("{m}", (m < 10 ? "0" : "") + m);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      var cls = left < 0 ? "breached" : (left < soon ? "soon" : "ok");
      el.textContent = (left < 0 ? OVER : LEFT).replace("{time}", fmt(left));
      ["ok", "soon", "breached"].forEach(function (c) { el.classList.toggle(c, c === cls); });
      var row = el.closest("tr.row");
      if (row) { ["ok", "soon", "breached"].forEach(function (c) { row.classList.toggle(c, c === cls); }); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
