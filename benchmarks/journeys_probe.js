// In-page probe of benchmarks/journeys.py, installed before any page script runs.
//
// It records, on the page's own clock (performance.now(), 0 = navigation start):
//   - when the first *data* is drawn (not the shell): the numbers a trader reads;
//   - every fetch the Dash renderer makes, with the callback outputs it asks for, so
//     resource timing entries can be named by callback;
//   - user clicks and grid mutations, to time pivot actions from click to redrawn data;
// and on the wall clock (Date.now(), comparable with the server's board versions):
//   - every change of a watched board cell and of the /market index levels;
//   - every /market chart drawn with new data, with the server time of that data.
// It reads the page only; nothing it does reaches the server.
(function () {
  "use strict";
  if (window.__jr) return;
  const jr = (window.__jr = {
    firstData: null, firstDataCond: null, fetches: [], cells: [], index: [], revisions: [],
    blanks: {}, samples: 0, blankSamples: 0, lastClick: null, lastGridMutation: 0, live: false,
  });
  try { performance.setResourceTimingBufferSize(200000); } catch (e) { /* older engines */ }
  // Main-thread tasks over 50 ms: scripts, layout and drawing that keep data off the screen.
  jr.longTasks = [];
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) {
        if (jr.longTasks.length < 20000) jr.longTasks.push([e.startTime, e.duration]);
      });
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { /* no long task timing */ }

  // -- fetches: name each _dash-update-component request by its outputs ------------------
  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    let output = null;
    if (url.indexOf("_dash-update-component") >= 0 && init && typeof init.body === "string") {
      try { output = JSON.parse(init.body).output; } catch (e) { output = "?"; }
    }
    if (jr.fetches.length < 50000) jr.fetches.push({ url: url, output: output, start: performance.now() });
    return origFetch.apply(this, arguments);
  };

  document.addEventListener("click", function (e) { jr.lastClick = e.timeStamp; }, true);

  // Errors a trader never sees but that explain a blank panel.
  jr.errors = [];
  function noteError(text) { if (jr.errors.length < 50) jr.errors.push(String(text).slice(0, 300)); }
  const origError = console.error;
  console.error = function () {
    noteError(Array.prototype.map.call(arguments, String).join(" "));
    return origError.apply(this, arguments);
  };
  window.addEventListener("error", function (e) { noteError("uncaught: " + (e.message || e)); });
  window.addEventListener("unhandledrejection", function (e) { noteError("unhandled rejection: " + (e.reason || "")); });

  // -- first data, per page ---------------------------------------------------------------
  const digit = /\d/;
  function rowsOf(grid) {
    return grid ? Array.prototype.slice.call(grid.querySelectorAll(".ag-center-cols-container .ag-row")) : [];
  }
  function cellText(row, col) {
    const c = row.querySelector('.ag-cell[col-id="' + col + '"]');
    return c ? c.textContent.trim() : "";
  }
  // An index chart's headline (level, change) is either the chart's own title or an
  // element beside it with the chart's id + "-title".
  function indexTitle(id) {
    const g = document.getElementById(id);
    return document.getElementById(id + "-title") || (g && g.querySelector(".gtitle"));
  }
  function chartDrawn(id) {
    const g = document.getElementById(id);
    if (!g) return false;
    const line = g.querySelector(".scatterlayer path.js-line");
    const title = indexTitle(id);
    return !!(line && digit.test(line.getAttribute("d") || "") && title && /\d[\d,]*\.\d/.test(title.textContent));
  }
  const firstData = {
    "/pivot": function () {
      return rowsOf(document.getElementById("pivot-grid")).some(function (r) {
        return Array.prototype.some.call(r.querySelectorAll(".ag-cell"), function (c) {
          return /^[-+]?[\d,.]*\d[\d,.]*%?$/.test(c.textContent.trim());
        });
      });
    },
    "/board": function () {
      const rows = rowsOf(document.getElementById("board-grid"));
      return rows.length > 0 && rows.every(function (r) { return digit.test(cellText(r, "ref")); }) &&
        rows.some(function (r) {
          return ["last", "bid1", "ask1"].some(function (f) { return digit.test(cellText(r, f)); });
        });
    },
    "/market": function () { return chartDrawn("market-vn30") && chartDrawn("market-vnindex"); },
    "/": function () {
      const figs = document.querySelectorAll('[id*="overview-figure"]');
      return figs.length > 0 && Array.prototype.every.call(figs, function (f) { return digit.test(f.textContent); });
    },
  };
  function shown() {
    const check = firstData[location.pathname];
    try { return !!(check && check()); } catch (e) { return false; }
  }
  function noteFirstData() {
    if (jr.firstDataCond !== null || !shown()) return;
    jr.firstDataCond = performance.now();
    // The frame after the DOM change is the one that paints it.
    requestAnimationFrame(function (t) { if (jr.firstData === null) jr.firstData = t; });
    setTimeout(function () { if (jr.firstData === null) jr.firstData = jr.firstDataCond; }, 250);
    watcher.disconnect();
    clearInterval(fallback);
  }
  const watcher = new MutationObserver(noteFirstData);
  watcher.observe(document, { subtree: true, childList: true, characterData: true, attributes: true,
                              attributeFilter: ["d"] });
  const fallback = setInterval(noteFirstData, 50);

  // -- what a trader would not trust: blank, empty or waiting panels ------------------------
  function visible(el) {
    return !!(el && el.offsetParent !== null && el.getClientRects().length);
  }
  function drawn(g) {
    return Array.prototype.some.call(g.querySelectorAll(".trace path"), function (p) {
      return digit.test(p.getAttribute("d") || "");
    });
  }
  jr.problems = function () {
    const out = [];
    document.querySelectorAll(".js-plotly-plot").forEach(function (g) {
      if (!visible(g)) return;
      const name = g.id || (g.closest("[id]") || {}).id || "chart";
      const notes = Array.prototype.map.call(g.querySelectorAll(".annotation-text"), function (a) { return a.textContent; });
      if (notes.some(function (t) { return /waiting/i.test(t); })) out.push("chart " + name + ": waiting for the feed");
      else if (!drawn(g)) out.push("chart " + name + ": empty");
    });
    document.querySelectorAll(".ag-root-wrapper").forEach(function (w) {
      const grid = w.closest("[id]");
      if (!visible(w) || (grid && grid.closest(".mantine-Modal-root"))) return;
      const name = grid ? grid.id : "grid";
      if (!rowsOf(grid || w).length) out.push("grid " + name + ": no rows");
    });
    document.querySelectorAll(".board-banner").forEach(function (b) {
      if (visible(b)) out.push("banner: " + b.textContent.trim().slice(0, 80));
    });
    if (location.pathname === "/board") {
      const empty = rowsOf(document.getElementById("board-grid")).filter(function (r) {
        return !digit.test(cellText(r, "ref"));
      }).length;
      if (empty) out.push("board: " + empty + " rows without a reference price");
    }
    if (location.pathname === "/market") {
      ["market-vn30", "market-vnindex"].forEach(function (id) {
        if (!chartDrawn(id)) out.push("chart " + id + ": no index level or line");
      });
    }
    return out;
  };
  setInterval(function () {
    if (!jr.live || jr.firstData === null) return;
    jr.samples += 1;
    const found = jr.problems();
    if (found.length) jr.blankSamples += 1;
    found.forEach(function (p) { jr.blanks[p] = (jr.blanks[p] || 0) + 1; });
  }, 250);

  // -- live updates on the wall clock -------------------------------------------------------
  const boardFields = { last: 1, total_vol: 1, bid1: 1, ask1: 1, bid1_vol: 1, ask1_vol: 1 };
  const lastText = {};
  function watchBoard() {
    const grid = document.getElementById("board-grid");
    if (!grid) return;
    new MutationObserver(function (mutations) {
      if (!jr.live) return;
      const now = Date.now();
      for (const m of mutations) {
        const node = m.target.nodeType === 1 ? m.target : m.target.parentElement;
        const cell = node && node.closest(".ag-cell");  // a change inside an existing cell, not a new row
        if (!cell) continue;
        const col = cell.getAttribute("col-id");
        const row = cell.closest(".ag-row");
        if (!boardFields[col] || !row) continue;
        const key = row.getAttribute("row-id") + "|" + col;
        const text = cell.textContent.trim();
        if (lastText[key] === text) continue;
        lastText[key] = text;
        if (jr.cells.length < 500000) jr.cells.push([now, row.getAttribute("row-id"), col, text]);
      }
    }).observe(grid, { subtree: true, childList: true, characterData: true });
  }
  function watchIndex(id) {
    const g = document.getElementById(id);
    if (!g) return;
    let before = null;
    const note = function () {
      if (!jr.live) return;
      const title = indexTitle(id);
      const m = title && /([\d,]+\.\d+)/.exec(title.textContent);
      const line = g.querySelector(".scatterlayer path.js-line");
      const points = line ? ((line.getAttribute("d") || "").match(/[ML]/g) || []).length : 0;
      const state = (m ? m[1] : "") + "|" + points;
      if (state === before) return;
      before = state;
      jr.index.push([Date.now(), id, m ? m[1] : "", points]);
    };
    const options = { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["d"] };
    new MutationObserver(note).observe(g, options);
    const title = document.getElementById(id + "-title");
    if (title) new MutationObserver(note).observe(title, options);
  }
  // Every /market chart drawn with new data carries, as its datarevision, the server-clock time
  // (ms) of the earliest view change the answer brought: when the screen shows it, the tick
  // delay of that change is now minus that time. One record per chart and revision.
  function watchRevisions() {
    const seen = {};
    Array.prototype.forEach.call(document.querySelectorAll(".market-page .js-plotly-plot"), function (g) {
      if (!g.on || g.__jrWatched) return;
      g.__jrWatched = true;
      g.on("plotly_afterplot", function () {
        const rev = g.layout && g.layout.datarevision;
        const id = (g.closest("[id]") || {}).id || "chart";
        if (!jr.live || typeof rev !== "number" || rev < 1e12 || seen[id] === rev) return;
        seen[id] = rev;
        if (jr.revisions.length < 100000) jr.revisions.push([Date.now(), id, rev]);
      });
    });
  }
  jr.startLive = function () {
    jr.live = true;
    jr.liveStart = performance.now();
    jr.cells = [];
    jr.index = [];
    jr.revisions = [];
    jr.blanks = {};
    jr.samples = 0;
    jr.blankSamples = 0;
    if (location.pathname === "/board") watchBoard();
    if (location.pathname === "/market") {
      watchIndex("market-vn30");
      watchIndex("market-vnindex");
      watchRevisions();
    }
  };

  // -- pivot actions: the last grid change after a click -------------------------------------
  jr.watchGrid = function (id) {
    const grid = document.getElementById(id);
    if (!grid || grid.__jrWatched) return !!grid;
    grid.__jrWatched = true;
    new MutationObserver(function () { jr.lastGridMutation = performance.now(); })
      .observe(grid, { subtree: true, childList: true, characterData: true, attributes: true,
                       attributeFilter: ["row-index", "row-id", "style"] });
    return true;
  };
  jr.gridSignature = function (id) {
    const grid = document.getElementById(id);
    if (!grid) return "";
    const parts = [];
    grid.querySelectorAll(".ag-row").forEach(function (r) {
      parts.push([r.getAttribute("row-index"), r.getAttribute("row-id"), r.textContent].join(":"));
    });
    return parts.sort().join("\n");
  };
  jr.pendingCallbacks = function () {
    const s = window.store && window.store.getState && window.store.getState();
    const cb = (s && s.callbacks) || {};
    return ["requested", "prioritized", "blocked", "executing", "watched", "executed"].reduce(function (n, k) {
      return n + ((cb[k] || []).length);
    }, 0);
  };
  jr.settleState = function (id) {
    return { sig: jr.gridSignature(id), lastMutation: jr.lastGridMutation, lastClick: jr.lastClick,
             pending: jr.pendingCallbacks(), now: performance.now() };
  };

  // -- screenshots: what the picture may hide -------------------------------------------------
  function rgb(text) {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/.exec(text || "");
    return m ? { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] } : null;
  }
  function luminance(c) {
    const f = function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function background(el) {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return document.documentElement.getAttribute("data-db-theme") === "dark" ? { r: 26, g: 27, b: 30 } : { r: 255, g: 255, b: 255 };
  }
  function contrast(el) {
    const fg = rgb(getComputedStyle(el).color);
    if (!fg) return 21;
    const a = luminance(fg), b = luminance(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  jr.screenNotes = function () {
    const notes = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth + 1) notes.push("page scrolls sideways (" + (doc.scrollWidth - window.innerWidth) + " px)");
    if (doc.scrollHeight > window.innerHeight + 1) notes.push("page taller than the screen (" + (doc.scrollHeight - window.innerHeight) + " px below)");
    document.querySelectorAll(".ag-root-wrapper").forEach(function (w) {
      if (!visible(w)) return;
      const name = (w.closest("[id]") || {}).id || "grid";
      const vp = w.querySelector(".ag-center-cols-viewport");
      if (vp && vp.scrollWidth > vp.clientWidth + 1) notes.push("grid " + name + ": " + (vp.scrollWidth - vp.clientWidth) + " px of columns off to the right");
      let cut = 0;
      w.querySelectorAll(".ag-cell, .ag-header-cell-text").forEach(function (c) { if (c.scrollWidth > c.clientWidth + 1) cut += 1; });
      if (cut) notes.push("grid " + name + ": " + cut + " cells or headers cut off");
    });
    const texts = Array.prototype.slice.call(document.querySelectorAll(
      ".ag-cell, [id*='overview-figure'], .shell-nav-link, .board-clock, .gtitle, .mantine-Text-root, td"));
    let low = 0, worst = 21, example = "";
    texts.forEach(function (el) {
      if (!visible(el) && el.tagName !== "text") return;
      if (!el.textContent.trim() || el.tagName === "text") return;
      const ratio = contrast(el);
      if (ratio < 3) { low += 1; if (ratio < worst) { worst = ratio; example = el.textContent.trim().slice(0, 20) + " (" + getComputedStyle(el).color + ")"; } }
    });
    if (low) notes.push(low + " text elements below 3:1 contrast, worst " + worst.toFixed(1) + ":1 e.g. " + example);
    notes.push.apply(notes, jr.problems());
    return { theme: doc.getAttribute("data-db-theme"), notes: notes };
  };

  // -- reports ---------------------------------------------------------------------------------
  // Resource entries of this document, each _dash-update-component one named by its outputs.
  jr.resources = function (since) {
    const used = {};
    let from = 0;  // fetches before this one are matched or too old for any later entry
    return performance.getEntriesByType("resource").map(function (e) {
        let output = null;
        if (e.name.indexOf("_dash-update-component") >= 0) {
          // The fetch call comes first (on a busy machine its resource entry may start much
          // later), and requests start in the order they were made: the oldest unmatched one.
          let best = -1;
          while (from < jr.fetches.length && (used[from] || jr.fetches[from].start < e.startTime - 3000)) from++;
          for (let i = from; i < jr.fetches.length && best < 0; i++) {
            const f = jr.fetches[i], d = e.startTime - f.start;
            if (f.output !== null && !used[i] && d >= -2 && d <= 3000) best = i;
          }
          if (best >= 0) { used[best] = true; output = jr.fetches[best].output; }
        }
        return { url: e.name.replace(location.origin, ""), output: output, start: e.startTime,
                 requestStart: e.requestStart, responseStart: e.responseStart, end: e.responseEnd,
                 transfer: e.transferSize, body: e.encodedBodySize, status: e.responseStatus || null,
                 // The app's own Server-Timing header: wall ("app") and CPU time inside the server.
                 timing: (e.serverTiming || []).reduce(function (o, t) { o[t.name] = t.duration; return o; }, {}) };
      }).filter(function (r) { return r.start >= (since || 0); });
  };
  jr.loadReport = function () {
    const nav = performance.getEntriesByType("navigation")[0] || {};
    return { firstData: jr.firstData, firstDataCond: jr.firstDataCond, problems: jr.problems(),
             nav: { responseStart: nav.responseStart, responseEnd: nav.responseEnd,
                    domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd },
             resources: jr.resources(0), longTasks: jr.longTasks, errors: jr.errors, wallOrigin: performance.timeOrigin };
  };
  jr.liveReport = function () {
    return { cells: jr.cells, index: jr.index, revisions: jr.revisions, blanks: jr.blanks, samples: jr.samples, blankSamples: jr.blankSamples,
             longTasks: jr.longTasks.filter(function (t) { return t[0] >= (jr.liveStart || 0); }),
             errors: jr.errors, resources: jr.resources(jr.liveStart || 0), wallOrigin: performance.timeOrigin, now: performance.now() };
  };
})();
