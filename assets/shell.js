// Shell behaviour that needs no server: colour scheme remembered per browser (or the
// system's, followed as it changes, when none was chosen), chrome hidden for ?embed=1 and
// ?kiosk=1 (kiosk is always dark, large type).
(function () {
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function systemScheme() {
    return darkQuery && darkQuery.matches ? "dark" : "light";
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    shell: {
      // choice: "light" or "dark" when the user picked one; "auto" or none follows the system.
      applyChrome: function (search, toggleClicks, system, choice) {
        const params = new URLSearchParams(search || "");
        const embed = params.get("embed") === "1";
        const kiosk = params.get("kiosk") === "1";
        const triggered = (window.dash_clientside.callback_context.triggered || [])
          .map((t) => t.prop_id);
        const chosen = choice === "dark" || choice === "light" ? choice : null;
        let scheme = chosen || (system === "dark" || system === "light" ? system : systemScheme());
        let kept = window.dash_clientside.no_update;
        if (triggered.indexOf("shell-theme-toggle.n_clicks") >= 0 && toggleClicks) {
          scheme = scheme === "dark" ? "light" : "dark";
          kept = scheme;  // the toggle is a choice: this browser keeps it
        }
        const shown = kiosk ? "dark" : scheme;
        const root = document.documentElement;
        root.classList.toggle("db-kiosk", kiosk);
        root.classList.toggle("db-embed", embed);
        root.setAttribute("data-db-theme", shown);
        return [shown, kept, shown, embed || kiosk, kiosk ? "db-kiosk" : embed ? "db-embed" : ""];
      },
    },
  });

  // A system switching to dark at dusk re-colours the pages that follow it.
  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener("change", function () {
      if (window.dash_clientside.set_props) {
        window.dash_clientside.set_props("shell-system", { data: systemScheme() });
      }
    });
  }
})();
