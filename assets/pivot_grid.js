// Pivot grid in the browser: tree cell renderer, number formats, heat shading, and the
// expansion rule (the same rule as backend.pivot.view_state.visible_rows) so that opening
// or closing a group needs no round trip. Shared namespaces are extended, never replaced,
// because other pages register their own functions in them.
(function () {
  const React = window.React;
  const fmtCache = {};
  const digits = { money: 0, qty: 0, count: 0, pct: 2, price: 2, weight: 4 };

  // The user's number format from their settings (assets/number_format.js): grouping and decimal
  // marks for every kind, their decimals for money (other kinds keep theirs).
  function userFormat() {
    const m = window.deskboardNumbers ? window.deskboardNumbers.marks() : { group: ",", point: ".", decimals: null };
    return { group: m.group, point: m.point, money: m.decimals };
  }

  function formatter(kind) {
    const user = userFormat();
    const key = kind + "|" + user.group + "|" + user.point + "|" + user.money;
    if (!fmtCache[key]) {
      let d = digits[kind] === undefined ? 2 : digits[kind];
      if (kind === "money" && user.money !== null) d = user.money;
      const en = new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
      fmtCache[key] = { format: function (v) {
        return en.format(v).replace(/[,.]/g, function (m) { return m === "," ? user.group : user.point; });
      } };
    }
    return fmtCache[key];
  }

  function depthOf(row) {
    const path = row && row._path;
    return Array.isArray(path) && path.length ? path.length - 1 : 0;
  }

  function isOpen(exp, id, depth) {
    if ((exp.closed || []).indexOf(id) >= 0) return false;
    return depth < (exp.depth || 0) || (exp.open || []).indexOf(id) >= 0;
  }

  function labelOf(row) {
    if (!row) return "";
    if (row._kind === "total") return "Total";
    const path = row._path || [];
    if (row._kind === "other") {
      return "Other (" + (row._folded || 0).toLocaleString("en-US") + ")";
    }
    const v = path.length ? path[path.length - 1] : "";
    return v === null || v === "" ? "—" : String(v);
  }

  function PivotTreeCell(props) {
    const row = props.data || {};
    const depth = row._kind === "total" ? 0 : depthOf(row);
    const group = row._kind === "group";
    const chevron = group
      ? React.createElement(
          "button",
          {
            className: "pivot-chevron",
            "aria-label": (row._open ? "Collapse " : "Expand ") + labelOf(row),
            "aria-expanded": row._open ? "true" : "false",
            "data-row-id": row._id,
            onClick: function (e) {
              e.stopPropagation();
              props.setData({ id: row._id, depth: depth, t: Date.now() });
            },
          },
          row._open ? "▾" : "▸"
        )
      : React.createElement("span", { className: "pivot-chevron-space" });
    return React.createElement(
      "span",
      { className: "pivot-tree-cell pivot-kind-" + (row._kind || "leaf"), style: { paddingLeft: depth * 16 + "px" } },
      chevron,
      React.createElement("span", { className: "pivot-tree-label" }, labelOf(row)),
      // A name beside an id (a manager's beside PM18); the id stays the row's key.
      row._name ? React.createElement("span", { className: "pivot-tree-name" }, row._name) : null
    );
  }

  window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  window.dashAgGridComponentFunctions.PivotTreeCell = PivotTreeCell;

  window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  Object.assign(window.dashAgGridFunctions, {
    // The grid redraws a cell only when its value changes: a group's value carries its
    // open state so that its chevron turns when the expansion changes.
    pivotLabel: function (params) {
      const row = params.data || {};
      return row._kind === "group" ? (row._open ? "▾ " : "▸ ") + labelOf(row) : labelOf(row);
    },
    pivotNumber: function (value, kind) {
      if (value === null || value === undefined || value === "" || !isFinite(value)) return "";
      const text = formatter(kind).format(value);
      return kind === "pct" ? text + "%" : text;
    },
    pivotHeat: function (params, maxAbs) {
      const v = params.value;
      if (!params.data || params.data._kind !== "leaf" || !isFinite(v) || !maxAbs) return null;
      const a = Math.min(Math.abs(v) / maxAbs, 1) * 0.35;
      return { backgroundColor: v >= 0 ? "rgba(18,183,106," + a + ")" : "rgba(240,68,56," + a + ")" };
    },
    // The engine sorts within each parent; the grid keeps the order it was given.
    pivotKeepOrder: function () {
      return 0;
    },
    pivotSortChanged: function (params, setEventData) {
      const state = params.api.getColumnState().filter(function (c) { return c.sort; });
      if (params.source === "api" || params.source === "gridOptionsChanged") return;
      setEventData(state.length ? { colId: state[0].colId, sort: state[0].sort } : { colId: null, sort: null });
    },
  });

  const PHONE = "(max-width: 600px)";
  // Crossing the phone width (rotating a phone, resizing a window) moves the controls.
  window.matchMedia(PHONE).addEventListener("change", function (e) {
    if (document.getElementById("pivot-root") && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("pivot-phone", { data: e.matches });
    }
  });

  function expansionQuery(query, exp) {
    const params = new URLSearchParams(query || "");
    ["depth", "open", "closed"].forEach(function (k) { params.delete(k); });
    if (exp.depth) params.append("depth", String(exp.depth));
    (exp.open || []).forEach(function (id) { params.append("open", id); });
    (exp.closed || []).forEach(function (id) { params.append("closed", id); });
    const text = params.toString().replace(/%2C/g, ",");
    return text ? "?" + text : "";
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    pivot: {
      // The same rule as backend.pivot.tree_view.grid_rows, which draws the first answer.
      visibleRows: function (result, state) {
        const dims = (result && result.dimensions) || [];
        const rows = (state && state.rows) || [];
        // A new hierarchy was asked for and its answer is on the way: keep the rows shown
        // (under the loading overlay) rather than redraw the old answer with a reset expansion.
        if (dims.join("\u0001") !== rows.join("\u0001")) return window.dash_clientside.no_update;
        const tree = (result && result.tree) || [];
        const exp = (state && state.expansion) || {};
        const shown = [];
        let closedAt = null;
        for (let i = 0; i < tree.length; i++) {
          const row = tree[i];
          const depth = depthOf(row);
          if (closedAt !== null && depth <= closedAt) closedAt = null;
          if (closedAt !== null) continue;
          const open = row._kind === "group" && isOpen(exp, row._id, depth);
          shown.push(Object.assign({}, row, { _open: open }));
          if (row._kind === "group" && !open) closedAt = depth;
        }
        return shown;
      },
      // Chevron clicks and expand/collapse-all change only the expansion: no round trip.
      expand: function (cell, expandAll, collapseAll, state) {
        const ctx = window.dash_clientside.callback_context;
        const trig = (ctx.triggered || []).map(function (t) { return t.prop_id; }).join(" ");
        if (!state) return window.dash_clientside.no_update;
        const exp = Object.assign({ depth: 0, open: [], closed: [] }, state.expansion || {});
        let next;
        if (trig.indexOf("expand-all") >= 0) {
          next = { depth: Math.max(0, (state.rows || []).length - 1), open: [], closed: [] };
        } else if (trig.indexOf("collapse-all") >= 0) {
          next = { depth: 0, open: [], closed: [] };
        } else if (cell && cell.value && cell.value.id) {
          const id = cell.value.id, depth = cell.value.depth;
          const opened = isOpen(exp, id, depth);
          const open = exp.open.filter(function (x) { return x !== id; });
          const closed = exp.closed.filter(function (x) { return x !== id; });
          if (opened && depth < exp.depth) closed.push(id);
          else if (!opened && depth >= exp.depth) open.push(id);
          next = { depth: exp.depth, open: open.slice(-500), closed: closed.slice(-500) };
        } else {
          return window.dash_clientside.no_update;
        }
        return Object.assign({}, state, { expansion: next });
      },
      // Phone width: the controls open in a drawer; wider: the side panel shows or hides.
      togglePanel: function (n, cls, phone) {
        if (phone) return [window.dash_clientside.no_update, true];
        const closed = (cls || "").indexOf("pivot-panel-closed") >= 0;
        return [closed ? cls.replace(" pivot-panel-closed", "") : (cls || "") + " pivot-panel-closed",
                window.dash_clientside.no_update];
      },
      // Charts are drawn in the chart view only: when it opens (on load too) and when its
      // request changes (and on a kiosk's refresh). The table view sends no chart requests.
      chartKick: function (view, request, tick, prev) {
        if (view === "chart") return { view: view, t: Date.now() };
        return prev && prev.view === "chart" ? { view: view } : window.dash_clientside.no_update;
      },
      isPhone: function () {
        return window.matchMedia(PHONE).matches ? true : window.dash_clientside.no_update;
      },
      // The view lives in the URL: a new view is a new history entry (back/forward work).
      writeUrl: function (state, query) {
        if (!state || query === undefined || query === null) return window.dash_clientside.no_update;
        const ctx = window.dash_clientside.callback_context;
        const initial = !(ctx.triggered || []).some(function (t) { return t.prop_id && t.prop_id !== "."; });
        const want = expansionQuery(query, state.expansion || {});
        if (window.location.pathname.replace(/\/$/, "").endsWith("/pivot") && window.location.search !== want) {
          const url = window.location.pathname + want;
          // Opening a link only tidies it (no extra history entry); later changes are new entries.
          if (initial) window.history.replaceState(null, "", url);
          else window.history.pushState(null, "", url);
        }
        return want;
      },
    },
  });
})();
