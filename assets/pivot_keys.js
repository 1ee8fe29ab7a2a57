// Pivot page keyboard shortcuts (? shows the list), back/forward, and the grid's dark mode.
(function () {
  function onPivot() {
    return window.location.pathname.replace(/\/$/, "").endsWith("/pivot") && document.getElementById("pivot-root");
  }
  function click(id) {
    const el = document.getElementById(id);
    if (el) el.click();
  }
  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    if (!onPivot() || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    const actions = {
      "/": function () {
        const box = document.getElementById("pivot-filter-values");
        if (box) box.focus();
      },
      e: function () { click("pivot-expand-all"); },
      c: function () { click("pivot-collapse-all"); },
      x: function () { click("pivot-export"); },
      "?": function () { click("pivot-help"); },
      t: function () {
        const labels = document.querySelectorAll("#pivot-view label");
        const inputs = document.querySelectorAll("#pivot-view input");
        for (let i = 0; i < inputs.length; i++) {
          if (!inputs[i].checked && labels[i]) { labels[i].click(); break; }
        }
      },
    };
    const act = actions[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  });
  // The page writes its view with history.pushState; going back or forward re-reads it.
  window.addEventListener("popstate", function () {
    if (onPivot() && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("pivot-popstate", { data: { search: window.location.search, t: Date.now() } });
    }
  });
  // AG Grid's built-in themes follow data-ag-theme-mode; mirror the app's colour scheme.
  function syncGridTheme() {
    const mode = document.documentElement.getAttribute("data-db-theme") === "dark" ? "dark" : "light";
    if (document.body && document.body.getAttribute("data-ag-theme-mode") !== mode) {
      document.body.setAttribute("data-ag-theme-mode", mode);
    }
  }
  new MutationObserver(syncGridTheme).observe(document.documentElement, { attributes: true, attributeFilter: ["data-db-theme"] });
  document.addEventListener("DOMContentLoaded", syncGridTheme);
})();
