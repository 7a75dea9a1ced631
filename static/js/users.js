// The users table's keyboard, focus and message behaviour. No inline scripts (strict CSP).
(function () {
  "use strict";

  var MESSAGE_MS = 4000;

  function table() {
    return document.getElementById("user-table");
  }

  // --- messages that fade by themselves -----------------------------------------------------
  function showMessage(text, level) {
    var box = document.getElementById("messages");
    if (!box || !text) return;
    var note = document.createElement("div");
    note.className = "alert alert-" + (level || "info") + " flash-message";
    note.textContent = text;
    box.appendChild(note);
    window.setTimeout(function () { note.classList.add("fading"); }, MESSAGE_MS);
    window.setTimeout(function () { note.remove(); }, MESSAGE_MS + 600);
  }

  document.addEventListener("dashboard:message", function (event) {
    showMessage(event.detail && event.detail.text, event.detail && event.detail.level);
  });

  // Server-rendered (no-JS style) alerts fade too once the page has loaded.
  document.querySelectorAll(".alert-dismissable, #messages .alert").forEach(function (alert) {
    window.setTimeout(function () { alert.classList.add("fading"); }, MESSAGE_MS * 2);
  });

  document.addEventListener("dashboard:created", function () {
    var form = document.getElementById("create-form");
    var panel = document.getElementById("create-panel");
    if (form) form.reset();
    if (panel) panel.open = false;
  });

  // --- clean URLs: leave out empty and default filter values -------------------------------
  var DEFAULTS = { q: "", active: "any", login: "any", created_from: "", created_to: "", login_date: "",
                   sort: "username", page_size: "50", page: "1" };

  document.addEventListener("htmx:config:request", function (event) {
    var ctx = event.detail.ctx;
    var form = ctx.request.form || (ctx.sourceElement && ctx.sourceElement.form);
    if (!form || form.id !== "filters" || ctx.request.method !== "GET" || !ctx.request.body) return;
    var body = ctx.request.body;
    var login = body.get("login");
    Object.keys(DEFAULTS).forEach(function (name) {
      if (body.has(name) && body.get(name) === DEFAULTS[name]) body.delete(name);
    });
    if (login === "never" || !login || login === "any") body.delete("login_date");
  });

  // --- error answers (400/403/404/503...) become a message; they never replace a row or the table.
  document.addEventListener("htmx:before:swap", function (event) {
    var ctx = event.detail.ctx;
    if (!ctx || !ctx.target) return;
    var text = (ctx.text || "").trim();
    var intoRow = ctx.target.tagName === "TR" && text.indexOf("<tr") !== 0;
    var intoTable = ctx.target.id === "user-table" && text.indexOf("error-message") !== -1 &&
                    text.indexOf('id="user-rows"') === -1;
    if (!intoRow && !intoTable) return;
    event.preventDefault();
    var holder = document.createElement("div");
    holder.innerHTML = text;
    showMessage(holder.textContent.trim().replace(/\s+/g, " ") || "Something went wrong.", "danger");
  });

  document.addEventListener("htmx:error", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (ctx && ctx.response) return;
    showMessage("The server could not be reached. Please try again.", "danger");
  });

  // --- row actions: plain links and buttons (they work without JS), sent by htmx into the row.
  // Delegated here rather than an hx-get/hx-post on each of 50 rows, to keep the partial small.
  document.addEventListener("click", function (event) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || !window.htmx) return;
    var control = event.target.closest && event.target.closest("#user-rows a.edit, #user-rows a.del, #user-rows button[form=act]");
    if (!control) return;
    event.preventDefault();
    var row = control.closest("tr");
    if (control.tagName === "A") {
      cancelOtherEdits(row);
      htmx.ajax("GET", control.pathname, { source: control, target: row, swap: "outerHTML" });
    } else {
      htmx.ajax("POST", control.formAction, { source: control, target: row, swap: "outerHTML" });
    }
  });

  // --- one row in edit at a time -------------------------------------------------------------
  function cancelOtherEdits(row) {
    document.querySelectorAll("#user-rows tr.editing, #user-rows tr.confirm-delete").forEach(function (other) {
      if (other === row) return;
      var cancel = other.querySelector(".cancel-edit");
      if (cancel) cancel.click();
    });
  }

  // --- focus lands sensibly after swaps ------------------------------------------------------
  document.addEventListener("htmx:after:swap", function (event) {
    var ctx = event.detail.ctx;
    if (!ctx || !ctx.target) return;
    var target = ctx.target;
    if (target.tagName === "TR" || (target.id && target.id.indexOf("user-") === 0 && !target.isConnected)) {
      var row = target.isConnected ? target : document.getElementById(target.id);
      if (!row) return;
      if (row.querySelector("[autofocus]")) return; // htmx focuses it
      var edit = row.querySelector("a.edit") || row;
      if (document.activeElement === document.body || !document.activeElement) edit.focus();
    }
    if (target.id === "user-table" && (!document.activeElement || document.activeElement === document.body)) {
      var first = target.querySelector("#user-rows tr[tabindex]");
      (first || document.getElementById("search")).focus();
    }
    updateSelectedCount();
  });

  // --- keyboard ------------------------------------------------------------------------------
  function isTyping(element) {
    if (!element) return false;
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var search = document.getElementById("search");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
      return;
    }
    var row = event.target.closest && event.target.closest("#user-rows tr");
    if (!row) return;
    if (event.key === "Escape" && (row.classList.contains("editing") || row.classList.contains("confirm-delete") ||
                                   row.classList.contains("conflict"))) {
      var cancel = row.querySelector(".cancel-edit");
      if (cancel) {
        event.preventDefault();
        cancel.click();
      }
      return;
    }
    if (event.key !== "Enter") return;
    if (event.target === row && !row.classList.contains("editing")) {
      var edit = row.querySelector("a.edit");
      if (edit) {
        event.preventDefault();
        edit.click();
      }
    } else if (row.classList.contains("editing") && event.target.tagName === "SELECT") {
      var form = event.target.form;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
    }
  });

  // --- Clear filters without a page load (it is a plain link without JS) -------------------
  document.addEventListener("click", function (event) {
    var clear = event.target.closest && event.target.closest("#clear-filters");
    if (!clear || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var form = document.getElementById("filters");
    if (!form || typeof form.requestSubmit !== "function") return;
    event.preventDefault();
    form.querySelectorAll("input, select").forEach(function (input) {
      if (input.type === "checkbox") input.checked = false;
      else if (input.tagName === "SELECT") input.value = input.id === "filter-page-size" ? "50" : input.options[0].value;
      else if (input.type !== "hidden") input.value = "";
    });
    form.requestSubmit();
    document.getElementById("search").focus();
  });

  // --- the bulk bar's role picker only matters for "Change role to…" --------------------------
  function syncBulkRole() {
    var action = document.getElementById("bulk-action");
    var role = document.querySelector('#bulk select[name="role"]');
    if (action && role) role.hidden = action.value !== "set_role";
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "bulk-action") syncBulkRole();
  });
  document.addEventListener("htmx:after:swap", syncBulkRole);
  syncBulkRole();

  // --- selecting rows for bulk actions -------------------------------------------------------
  function updateSelectedCount() {
    var label = document.getElementById("selected-count");
    if (!label) return;
    var count = document.querySelectorAll("#user-rows input[name=ids]:checked").length;
    label.textContent = count ? "(" + count + ")" : "";
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-page") {
      document.querySelectorAll("#user-rows input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.id === "select-page" || (target.name === "ids" && target.closest("#user-rows"))) {
      var selected = document.querySelector('#bulk input[name="scope"][value="selected"]');
      if (selected) selected.checked = true;
      updateSelectedCount();
    }
  });
})();
