// Price board in the browser: VN colours, number formats, the active buy/sell bar,
// and the sort kept in the URL. Shared namespaces are extended, never replaced,
// because other pages register their own functions in them.
(function () {
  const React = window.React;
  const fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  const comps = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});
  const price2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const price1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function isFuture(data) {
    return data && data.kind === "future";
  }

  // Stocks are VND and show in thousands; futures are index points.
  fns.boardPrice = function (params) {
    const v = params.value;
    if (v === null || v === undefined || v === 0) return "";
    return isFuture(params.data) ? price1.format(v) : price2.format(v / 1000);
  };
  fns.boardVolume = function (params) {
    const v = params.value;
    return v === null || v === undefined || v === 0 ? "" : whole.format(v);
  };
  fns.boardPct = function (params) {
    const v = params.value;
    return v === null || v === undefined ? "" : (v > 0 ? "+" : "") + v.toFixed(2) + "%";
  };
  fns.boardAverage = function (params) {
    const d = params.data;
    return d && d.total_vol ? d.total_val / d.total_vol : null;
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

  // Keep the sort in the address bar (replaceState: no navigation, no re-render).
  fns.boardSortChanged = function (params) {
    const state = params.api.getColumnState().filter((c) => c.sort);
    const url = new URL(window.location.href);
    if (state.length) url.searchParams.set("sort", state[0].colId + ":" + state[0].sort);
    else url.searchParams.delete("sort");
    window.history.replaceState(window.history.state, "", url.toString());
  };

  comps.BoardSplitBar = function (props) {
    const share = props.value;
    if (share === null || share === undefined) return null;
    const buy = Math.round(share * 100);
    return React.createElement(
      "div",
      { className: "board-split", title: "active buy " + buy + "% / sell " + (100 - buy) + "%" },
      React.createElement("span", { className: "board-split-buy", style: { width: buy + "%" } }),
      React.createElement("span", { className: "board-split-sell", style: { width: 100 - buy + "%" } }),
      React.createElement("em", null, buy + "%")
    );
  };
})();

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  board: Object.assign({}, (window.dash_clientside || {}).board, {
    // The chosen watchlist goes into the address bar without a navigation.
    syncWatchlist: function (chosen) {
      if (!chosen) return window.dash_clientside.no_update;
      const url = new URL(window.location.href);
      if (chosen.id && chosen.id !== "vn30") url.searchParams.set("watchlist", chosen.id);
      else url.searchParams.delete("watchlist");
      window.history.replaceState(window.history.state, "", url.toString());
      return chosen.id;
    },
  }),
});
