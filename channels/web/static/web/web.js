/* Optional: every page works without this. It checks files before a slow upload starts and stops double submits. */
(function () {
  "use strict";
  document.querySelectorAll("form.js-upload").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var out = form.querySelector("#e-files-js");
    function check() {
      var files = input.files || [], msg = "";
      var max = +form.dataset.maxFiles, bytes = +form.dataset.maxBytes;
      if (files.length > max) msg = form.dataset.msgMany;
      for (var i = 0; !msg && i < files.length; i++) {
        if (files[i].size > bytes) msg = form.dataset.msgLarge.replace("{name}", files[i].name).replace("{size}", form.dataset.size);
      }
      out.textContent = msg;
      out.hidden = !msg;
      input.setAttribute("aria-invalid", msg ? "true" : "false");
      return !msg;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (e) {
      if (!check()) { e.preventDefault(); input.focus(); return; }
      form.querySelector("button[type=submit]").disabled = true;
    });
  });
  document.querySelectorAll("form.js-once").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button[type=submit]");
      setTimeout(function () { b.disabled = true; }, 0);
    });
  });
  var err = document.getElementById("errors");
  if (err) err.focus();
})();
