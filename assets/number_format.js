// The user's number format (from /settings, written by the shell into #shell-number-format)
// for every page: grids and boards localise their English-formatted text with it, and every
// Plotly chart gets it as its separators, whichever page drew the figure.
(function () {
  function marks() {
    const el = document.getElementById("shell-number-format");
    const d = (el && el.dataset) || {};
    const places = parseInt(d.decimals, 10);
    return { group: d.thousands === undefined ? "," : d.thousands, point: d.point || ".",
             decimals: places >= 0 && places <= 6 ? places : null };
  }

  // "1,234.5" (en-US) in the user's marks: "1.234,5", "1 234.5", "1234.5"...
  function localise(text) {
    const m = marks();
    if (m.group === "," && m.point === ".") return text;
    return String(text).replace(/[,.]/g, function (c) { return c === "," ? m.group : m.point; });
  }

  window.deskboardNumbers = { marks: marks, localise: localise };

  // Plotly's "separators": decimal mark then grouping mark. A figure that sets its own keeps them.
  function withSeparators(layout) {
    if (layout && layout.separators) return layout;
    const m = marks();
    return Object.assign({}, layout || {}, { separators: m.point + m.group });
  }

  function wrap(plotly) {
    if (!plotly || plotly.__deskboardNumbers) return plotly;
    ["react", "newPlot"].forEach(function (name) {
      const real = plotly[name];
      if (typeof real !== "function") return;
      plotly[name] = function (gd, data, layout, config) {
        if (data && !Array.isArray(data) && typeof data === "object") {  // (gd, {data, layout, config, frames})
          return real.call(this, gd, Object.assign({}, data, { layout: withSeparators(data.layout) }));
        }
        return real.call(this, gd, data, withSeparators(layout), config);
      };
    });
    plotly.__deskboardNumbers = true;
    return plotly;
  }

  // Plotly is loaded after this file on some pages and before it on others.
  let plotly = wrap(window.Plotly);
  try {
    Object.defineProperty(window, "Plotly", {
      configurable: true,
      get: function () { return plotly; },
      set: function (value) { plotly = wrap(value); },
    });
  } catch (e) {
    // a browser that refuses the property keeps Plotly's own separators
  }
})();
