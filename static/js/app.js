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

  // Flask-Admin's templates (overridden under templates/admin/) carry data attributes where
  // upstream had onclick handlers and javascript: links, which the CSP blocks.
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    var confirmer = target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    var action = target.closest("[data-model-action]");
    if (action && window.modelActions) {
      event.preventDefault();
      window.modelActions.execute(action.getAttribute("data-model-action"));
      return;
    }
    var placeholder = target.closest('a[href="#"]');
    if (placeholder) {
      event.preventDefault();
    }
  });
})();
