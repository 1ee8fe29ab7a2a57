// Price board in the browser: VN colours, compact number formats, the flash colour of each
// changed value (its direction), the symbol cell (open the detail, pin), pinned rows on top, and the view kept
// in the URL. Shared namespaces are extended, never replaced, because other pages register
// their own functions in them.
(function () {
  const React = window.React;
  const h = React.createElement;
  const fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  const comps = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});
  const price2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  // Futures in index points without grouping ("2080.5"): narrow columns, as boards print them.
  const price1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1, useGrouping: false });
  const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  // The board's view state in this tab: the pinned symbols, in pin order.
  const view = (window.deskboardBoard = window.deskboardBoard || { pins: [] });
  // Numbers are formatted in English and shown in the user's marks (assets/number_format.js).
  function local(text) {
    return window.deskboardNumbers ? window.deskboardNumbers.localise(text) : text;
  }

  function isFuture(data) {
    return data && data.kind === "future";
  }
  function missing(v) {
    return v === null || v === undefined || Number.isNaN(v);
  }

  // Stocks are VND and show in thousands; futures are index points.
  fns.boardPrice = function (params) {
    const v = params.value;
    if (missing(v) || v === 0) return "";
    return local(isFuture(params.data) ? price1.format(v) : price2.format(v / 1000));
  };
  fns.boardChange = function (params) {
    const v = params.value;
    if (missing(v)) return "";
    return local(isFuture(params.data) ? price1.format(v) : price2.format(v / 1000));
  };
  // Volumes to three significant figures above 9,999 (12.3K, 350K, 1.23M); the exact figure
  // is the cell's tooltip.
  function compact(v) {
    const a = Math.abs(v);
    if (a < 10000) return whole.format(v);
    const units = [[1e3, "K"], [1e6, "M"], [1e9, "B"], [1e12, "T"]];
    for (let i = 0; i < units.length; i++) {
      const [div, suffix] = units[i];
      const x = a / div;
      const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
      const text = x.toFixed(digits);
      // 999,600 rounds to "1000K": say 1.00M instead.
      if (parseFloat(text) < 1000 || i === units.length - 1) return (v < 0 ? "-" : "") + text + suffix;
    }
    return whole.format(v);
  }
  fns.boardCompact = function (v) {
    return local(compact(v));
  };
  fns.boardVolume = function (params) {
    const v = params.value;
    return missing(v) || v === 0 ? "" : local(compact(v));
  };
  fns.boardPct = function (params) {
    const v = params.value;
    return missing(v) ? "" : local((v > 0 ? "+" : "") + v.toFixed(2) + "%");
  };
  // Average matched price: traded value over volume; a futures contract trades for its
  // points × the contract multiplier (backend.market.reference.FUTURES_MULTIPLIER; a test
  // keeps the two equal).
  const FUTURES_MULTIPLIER = 100000;
  fns.boardAverage = function (params) {
    const d = params.data;
    if (!d || !d.total_vol) return null;
    return d.total_val / d.total_vol / (isFuture(d) ? FUTURES_MULTIPLIER : 1);
  };
  fns.boardBuyShare = function (params) {
    const d = params.data;
    if (!d) return null;
    const classified = (d.buy_vol || 0) + (d.sell_vol || 0);
    return classified ? d.buy_vol / classified : null;
  };

  // Same rule as backend.market.board_view.price_tone.
  function tone(p, d) {
    if (!p || !d || !d.ref) return "";
    if (d.ceiling && p >= d.ceiling) return "board-ceiling";
    if (d.floor && p <= d.floor) return "board-floor";
    return p > d.ref ? "board-up" : p < d.ref ? "board-down" : "board-ref";
  }
  fns.boardTone = tone;
  fns.boardToneClass = function (params, field) {
    const d = params && params.data;
    if (!d) return "";
    if (field === "ref") return "board-ref";
    if (field === "ceiling") return "board-ceiling";
    if (field === "floor") return "board-floor";
    if (field === "avg") return tone(fns.boardAverage(params), d);
    return tone(d[field], d);
  };

  // -- pinned rows --------------------------------------------------------------------
  fns.boardIsPinned = function (params) {
    return !!(params && params.data && view.pins.indexOf(params.data.symbol) >= 0);
  };
  fns.boardIsFound = function (params) {
    return !!(params && params.data && view.found === params.data.symbol);
  };
  // Without a column sort the board reads futures first, then symbols A→Z; pinned symbols
  // go above everything in the order they were pinned. ``nodes`` is sorted in place.
  fns.boardPostSort = function (params) {
    const nodes = params.nodes;
    const sorted = params.api && params.api.getColumnState().some((c) => c.sort);
    if (!sorted) {
      nodes.sort((a, b) => {
        const fa = isFuture(a.data) ? 0 : 1;
        const fb = isFuture(b.data) ? 0 : 1;
        if (fa !== fb) return fa - fb;
        const sa = (a.data && a.data.symbol) || "";
        const sb = (b.data && b.data.symbol) || "";
        return sa < sb ? -1 : sa > sb ? 1 : 0;
      });
    }
    if (!view.pins.length) return;
    const rank = new Map(view.pins.map((s, i) => [s, i]));
    const top = [];
    const rest = [];
    nodes.forEach((n) => (n.data && rank.has(n.data.symbol) ? top : rest).push(n));
    top.sort((a, b) => rank.get(a.data.symbol) - rank.get(b.data.symbol));
    nodes.splice(0, nodes.length, ...top, ...rest);
  };

  // Keep the sort in the address bar (replaceState: no navigation, no re-render).
  fns.boardSortChanged = function (params) {
    const state = params.api.getColumnState().filter((c) => c.sort);
    const url = new URL(window.location.href);
    if (state.length) url.searchParams.set("sort", state[0].colId + ":" + state[0].sort);
    else url.searchParams.delete("sort");
    window.history.replaceState(window.history.state, "", url.toString());
  };

  // -- colours and the direction flash -------------------------------------------------
  // AG Grid flashes a cell when its own value changed (never the unchanged cells of an
  // updated row) and re-applies the cell's style then. ``boardCellStyle`` gives in one call
  // the text colour (VN tone of the price) and the flash colour: green when the value rose
  // against the value this cell showed before, red when it fell. Each row node remembers
  // the value each of its cells last showed.
  const TONE_VARS = {
    "board-up": "var(--db-up)", "board-down": "var(--db-down)", "board-ref": "var(--db-ref)",
    "board-ceiling": "var(--db-ceil)", "board-floor": "var(--db-floor)",
  };
  function direction(params) {
    const node = params.node;
    if (!node || !params.column) return 0;
    const shown = node.__boardShown || (node.__boardShown = {});
    const col = params.column.getColId();
    const value = params.value;
    const seen = shown[col];
    if (!seen) {
      shown[col] = { value: value, dir: 0 };
      return 0;
    }
    if (seen.value !== value) {
      // A level appearing or emptying is not a move up or down.
      const comparable = typeof seen.value === "number" && typeof value === "number";
      seen.dir = comparable ? (value > seen.value ? 1 : -1) : 0;
      seen.value = value;
    }
    return seen.dir;
  }
  fns.boardCellStyle = function (params, toneField) {
    const dir = direction(params);
    const tone = toneField ? fns.boardToneClass(params, toneField) : "";
    return {
      color: TONE_VARS[tone] || "",
      "--db-flash": dir > 0 ? "var(--db-flash-up)" : dir < 0 ? "var(--db-flash-down)" : "transparent",
      "--db-flash-line": dir > 0 ? "var(--db-up)" : dir < 0 ? "var(--db-down)" : "transparent",
    };
  };
  // The row carries the tone of its matched price; the symbol cell is drawn in it.
  fns.boardRowStyle = function (params) {
    return { "--db-row-tone": TONE_VARS[fns.boardToneClass(params, "last")] || "inherit" };
  };
  // Foreign room: 0 is news (the room is full), not an empty cell; blank only before it is known.
  fns.boardRoom = function (params) {
    const v = params.value;
    return missing(v) ? "" : local(compact(v));
  };
  fns.boardExactVolume = function (params) {
    const v = params.value;
    return missing(v) || v === 0 ? undefined : local(whole.format(v));
  };

  // Kiosk rows: the screen's height below the grid's top and its two header rows, shared by the
  // rows on the wall, between 18 px (small type still reads) and 30 px.
  fns.boardKioskRowHeight = function (params) {
    const grid = document.getElementById("board-grid");
    const top = grid ? grid.getBoundingClientRect().top + window.scrollY : 80;
    const headers = 26 + 22 + 4; // header rows and the grid's borders (board_grid.py)
    const rows = Math.max(params.api.getDisplayedRowCount(), 1);
    const fit = Math.floor((window.innerHeight - top - headers - 8) / rows);
    return Math.max(18, Math.min(30, fit));
  };

  // The symbol: a button that opens its detail, and a star that pins it to the top.
  comps.BoardSymbol = function (props) {
    const symbol = props.value;
    if (!symbol) return null;
    const pinned = view.pins.indexOf(symbol) >= 0;
    if (props.kiosk) {
      return h("span", { className: "board-open" }, pinned ? h("span", { className: "board-pin is-pinned" }, "★") : null, symbol);
    }
    function send(action) {
      return function (e) {
        e.stopPropagation();
        props.setData({ action: action, symbol: symbol });
      };
    }
    return h(
      React.Fragment,
      null,
      h("button", {
        type: "button", className: "board-pin" + (pinned ? " is-pinned" : ""), onClick: send("pin"),
        title: (pinned ? "Unpin " : "Pin ") + symbol, "aria-label": (pinned ? "Unpin " : "Pin ") + symbol,
        "aria-pressed": pinned,
      }, pinned ? "★" : "☆"),
      h("button", { type: "button", className: "board-open", onClick: send("open"), title: "Details of " + symbol }, symbol)
    );
  };

  comps.BoardSplitBar = function (props) {
    const share = props.value;
    if (share === null || share === undefined) return null;
    const buy = Math.round(share * 100);
    return h(
      "div",
      { className: "board-split", title: "active buy " + buy + "% / sell " + (100 - buy) + "%" },
      h("span", { className: "board-split-buy", style: { width: buy + "%" } }),
      h("span", { className: "board-split-sell", style: { width: 100 - buy + "%" } }),
      h("em", null, buy + "%")
    );
  };

  function grid() {
    return window.dash_ag_grid && window.dash_ag_grid.getApiAsync
      ? window.dash_ag_grid.getApiAsync("board-grid")
      : Promise.reject(new Error("grid not ready"));
  }

  function setParam(url, name, value) {
    if (value) url.searchParams.set(name, value);
    else url.searchParams.delete(name);
  }

  function toggle(list, symbol) {
    const out = (list || []).slice();
    const at = out.indexOf(symbol);
    if (at >= 0) out.splice(at, 1);
    else out.push(symbol);
    return out;
  }

  const noUpdate = () => window.dash_clientside.no_update;

  // One poll in flight per screen: a tick passes only when the previous poll's answer has
  // landed (the server echoes the poll number back) or has been given up after a few
  // seconds, so a slow answer is drawn instead of being superseded by the next request,
  // and a lost one cannot stop the board.
  // A hidden tab asks nothing (its grid is not seen); shown again, its next poll brings every
  // change since the version it holds.
  const GIVE_UP_MS = 4000;
  function pacer(name) {
    return function (n, lastPoll, lastAnswer) {
      if (document.hidden) return noUpdate();
      const now = Date.now();
      const waiting = lastPoll !== null && lastPoll !== undefined && lastPoll !== lastAnswer;
      // A freshly drawn page starts with no poll of its own: whatever an earlier page left in
      // flight is not ours.
      if (waiting && now - (view["sent_" + name] || 0) < GIVE_UP_MS) return noUpdate();
      view["sent_" + name] = now;
      return n || 0;
    };
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    board: Object.assign({}, (window.dash_clientside || {}).board, {
      pace: pacer("board"),
      paceDetail: pacer("detail"),
      // Watchlist, pins and the open symbol go into the address bar without a navigation;
      // new pins re-sort the grid.
      syncView: function (chosen, pins, detail) {
        const url = new URL(window.location.href);
        if (chosen) setParam(url, "watchlist", chosen.id && chosen.id !== "vn30" ? chosen.id : "");
        setParam(url, "pin", (pins || []).join(","));
        setParam(url, "symbol", detail || "");
        window.history.replaceState(window.history.state, "", url.toString());
        const next = (pins || []).slice();
        if (next.join(",") !== view.pins.join(",")) {
          view.pins = next;
          grid().then((api) => {
            api.refreshClientSideRowModel("sort");
            api.redrawRows();
          }).catch(() => {});
        }
        return url.search;
      },
      // Star and symbol clicks in the grid, the Pin and Details buttons beside the search
      // box, and closing the drawer: the new pins and open symbol.
      act: function (cellData, pinClicks, openClicks, opened, searchValue, pins, detail) {
        const fired = (window.dash_clientside.callback_context.triggered || []).map((t) => t.prop_id);
        let nextPins = noUpdate();
        let nextDetail = noUpdate();
        if (fired.indexOf("board-grid.cellRendererData") >= 0 && cellData && cellData.value) {
          const action = cellData.value.action;
          const symbol = cellData.value.symbol;
          if (action === "pin" && symbol) nextPins = toggle(pins, symbol);
          if (action === "open" && symbol) nextDetail = symbol;
        }
        if (fired.indexOf("board-pin.n_clicks") >= 0 && searchValue) nextPins = toggle(pins, searchValue);
        if (fired.indexOf("board-open-detail.n_clicks") >= 0 && searchValue) nextDetail = searchValue;
        if (fired.indexOf("board-drawer.opened") >= 0 && !opened && detail) nextDetail = null;
        return [nextPins, nextDetail];
      },
      // The searched symbol: scroll its row into view and highlight it for a moment.
      find: function (symbol) {
        if (!symbol) return noUpdate();
        grid().then((api) => {
          const node = api.getRowNode(symbol);
          if (!node) return;
          view.found = symbol;
          api.ensureNodeVisible(node, "middle");
          api.redrawRows({ rowNodes: [node] });
          setTimeout(() => {
            if (view.found !== symbol) return;
            view.found = null;
            const still = api.getRowNode(symbol);
            if (still) api.redrawRows({ rowNodes: [still] });
          }, 2000);
        }).catch(() => {});
        return symbol;
      },
      detailTicking: function (detail) {
        return !detail;
      },
    }),
  });
})();
