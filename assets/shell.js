// Shell behaviour that needs no server: colour scheme remembered per browser,
// chrome hidden for ?embed=1 and ?kiosk=1 (kiosk is always dark, large type).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  shell: {
    applyChrome: function (search, toggleClicks, stored) {
      const params = new URLSearchParams(search || "");
      const embed = params.get("embed") === "1";
      const kiosk = params.get("kiosk") === "1";
      const triggered = (window.dash_clientside.callback_context.triggered || [])
        .map((t) => t.prop_id);
      let scheme = stored === "dark" ? "dark" : "light";
      if (triggered.indexOf("shell-theme-toggle.n_clicks") >= 0 && toggleClicks) {
        scheme = scheme === "dark" ? "light" : "dark";
      }
      const shown = kiosk ? "dark" : scheme;
      const root = document.documentElement;
      root.classList.toggle("db-kiosk", kiosk);
      root.classList.toggle("db-embed", embed);
      root.setAttribute("data-db-theme", shown);
      return [shown, scheme, embed || kiosk, kiosk ? "db-kiosk" : embed ? "db-embed" : ""];
    },
  },
});
