// The dashboard's own behaviour. No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx 4 does not inherit hx-headers by default: add the CSRF token to every request here.
  document.addEventListener("htmx:config:request", function (event) {
    event.detail.ctx.request.headers["X-CSRFToken"] = csrfToken();
  });
})();
