// /market in the browser.
// - poll: ask the server for what changed since this screen's cursor, but only once the previous
//   answer has been applied (Dash drops an answer whose callback was asked again meanwhile, so
//   overlapping questions would mean answers never drawn). An answer that took longer than a
//   tick is followed by the next question at once (the tick that would have asked was skipped
//   while it was awaited); a question unanswered for TIMEOUT_MS is given up and asked again
//   (Dash ignores the late answer of the question given up). A hidden tab does not ask.
// - apply: extend the figures in place with an answer (series from their last point on, headline
//   parts that changed) and re-colour them when the theme changes, without a server round trip.
// - Ack buttons: the clicked button's own data-ack-id is sent, so an acknowledgement acts on the
//   row that was clicked even while the list is being redrawn.
// Shared namespaces are extended, never replaced.
(function () {
  const dc = (window.dash_clientside = window.dash_clientside || {});
  const TICK_MS = 500; // the page's poll interval (pages/market.py, market-tick)
  const TIMEOUT_MS = 2500;
  // The question this tab awaits: its number and when it left.
  const awaited = { seq: 0, sent: 0, asked: 0 };

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  function question(seq, cursor, now) {
    awaited.seq = seq;
    awaited.sent = now;
    awaited.asked += 1; // which question is the latest, whoever asked it
    return {
      seq: seq,
      cursor: cursor ? cursor.cursor : null,
      status: cursor ? cursor.status : null,
      sent: now,
    };
  }

  function poll(_n, request, cursor) {
    // A hidden tab asks nothing; shown again, its next question brings everything since its cursor.
    if (document.hidden) return noUpdate();
    const seq = (request && request.seq) || 0;
    const ack = (cursor && cursor.ack) || 0;
    const now = Date.now();
    if (seq > ack && now - ((request && request.sent) || 0) < TIMEOUT_MS) return noUpdate();
    return question(Math.max(seq, ack) + 1, cursor, now);
  }

  // After an answer that was awaited for longer than a tick, the next question leaves now.
  function askAgainIfLate(answer, cursor) {
    if (document.hidden || answer.ack !== awaited.seq) return;
    const now = Date.now();
    if (now - awaited.sent < TICK_MS) return;
    const next = question(answer.ack + 1, cursor, now);
    const asked = awaited.asked;
    // After this callback returns, so the question carries the cursor it just set; not when a
    // tick asked in between.
    setTimeout(function () {
      if (awaited.asked === asked) window.dash_clientside.set_props("market-request", { data: next });
    }, 0);
  }

  function copy(o) {
    return Object.assign({}, o || {});
  }

  // A figure whose layout (and listed parts of it) may be changed without touching the original.
  function editable(fig) {
    const layout = copy(fig.layout);
    layout.annotations = (layout.annotations || []).map(copy);
    layout.shapes = (layout.shapes || []).map(copy);
    return { data: (fig.data || []).map(copy), layout: layout };
  }

  function setNote(fig, part) {
    if (fig.layout.annotations.length) {
      fig.layout.annotations[0].text = part.note || "";
      fig.layout.annotations[0].visible = Boolean(part.note);
    }
  }

  function applyPart(name, fig, part, tones) {
    setNote(fig, part);
    if (name === "vn30" || name === "vnindex") {
      fig.data[0].line = Object.assign(copy(fig.data[0].line), { color: tones[part.tone] });
      if (fig.layout.shapes.length) {
        const prior = part.prior || 0;
        Object.assign(fig.layout.shapes[0], { y0: prior, y1: prior, visible: Boolean(part.prior) });
      }
    } else if (name === "basis") {
      fig.data[1].name = part.symbol || "futures";
    } else if (name === "leaders") {
      fig.data[0].y = part.symbols;
      fig.data[0].x = part.values;
      fig.data[0].marker = Object.assign(copy(fig.data[0].marker), {
        color: part.tones.map((t) => tones[t]),
      });
    }
  }

  function applySeries(fig, spec, series, full, tones) {
    spec.traces.forEach(function (col, i) {
      const trace = fig.data[i];
      const keep = full ? 0 : series.from;
      trace.x = (trace.x || []).slice(0, keep).concat(series.x);
      trace.y = (trace.y || []).slice(0, keep).concat(series.cols[col]);
    });
    if (spec.signs !== undefined) {
      // Bars coloured by their sign (the basis): above zero up, below down.
      const trace = fig.data[spec.signs];
      trace.marker = Object.assign(copy(trace.marker), {
        color: trace.y.map((v) => ((v || 0) >= 0 ? tones.up : tones.down)),
      });
    }
  }

  // The screen's figures hold exactly what its cursor says (else it asks for everything).
  function consistent(answer, figs, cursor, config) {
    if (!cursor || !cursor.cursor || cursor.cursor.run !== answer.run) return false;
    return Object.keys(answer.series).every(function (name) {
      const held = cursor.cursor.n[name];
      const fig = figs[config.charts[name].graph];
      const length = fig && fig.data && fig.data[0] ? (fig.data[0].x || []).length : -1;
      return length === held && answer.series[name].from === Math.max(held - 1, 0);
    });
  }

  // A VN tone's colour in another theme → the same tone in ``palette`` (anything else as it is).
  function toneRecolour(config, palette) {
    const tone = {};
    Object.keys(config.themes).forEach(function (theme) {
      (config.toneNames || []).forEach(function (t) { tone[config.themes[theme][t]] = t; });
    });
    return function (colour) {
      return typeof colour === "string" && tone[colour] ? palette[tone[colour]] : colour;
    };
  }

  function retheme(fig, palette, name, spec, recolour) {
    const layout = fig.layout;
    layout.meta = name;
    layout.font = Object.assign(copy(layout.font), { color: palette.font });
    layout.hoverlabel = { bgcolor: palette.hover, font: { color: palette.font } };
    layout.legend = Object.assign(copy(layout.legend), { font: { color: palette.font } });
    Object.keys(layout).forEach(function (key) {
      if (!/^[xy]axis[0-9]*$/.test(key)) return;
      const axis = copy(layout[key]);
      axis.gridcolor = palette.grid;
      axis.linecolor = palette.grid;
      axis.zerolinecolor = palette.zero;
      axis.tickfont = Object.assign(copy(axis.tickfont), { color: palette.font });
      axis.title = copy(axis.title);
      axis.title.font = Object.assign(copy(axis.title.font), { color: palette.muted });
      layout[key] = axis;
    });
    layout.annotations.forEach(function (a) {
      a.font = Object.assign(copy(a.font), { color: palette.muted });
    });
    layout.shapes.forEach(function (shape) {
      if (shape.line) shape.line = Object.assign(copy(shape.line), { color: recolour(shape.line.color) });
    });
    // Lines and bars in VN tones (an index's change, buying and selling, the basis's sign).
    fig.data.forEach(function (trace) {
      if (trace.line && trace.line.color) trace.line = Object.assign(copy(trace.line), { color: recolour(trace.line.color) });
      const marker = trace.marker;
      if (marker && marker.color) {
        const colour = Array.isArray(marker.color) ? marker.color.map(recolour) : recolour(marker.color);
        trace.marker = Object.assign(copy(marker), { color: colour });
      }
    });
    Object.keys((spec && spec.themed) || {}).forEach(function (i) {
      const trace = fig.data[Number(i)];
      const colour = palette[spec.themed[i]];
      if (!trace) return; // a figure without data (no market service on this server)
      if (trace.type === "bar" && spec.signs !== Number(i)) {
        trace.marker = Object.assign(copy(trace.marker), { color: colour });
      } else if (trace.type !== "bar") {
        trace.line = Object.assign(copy(trace.line), { color: colour });
      }
    });
  }

  function apply(answer, theme) {
    const args = Array.prototype.slice.call(arguments, 2);
    const config = args[args.length - 1];
    const cursor = args[args.length - 2];
    const graphs = config.graphs;
    const current = {};
    graphs.forEach((g, i) => (current[g] = args[i]));
    const edited = {};
    const fresh = {}; // figures given new data by this answer
    function edit(graph) {
      if (!edited[graph] && current[graph]) edited[graph] = editable(current[graph]);
      return edited[graph];
    }
    const name = config.kiosk || theme === "dark" ? "dark" : "light";
    const palette = config.themes[name];
    let next = noUpdate();
    if (answer && answer.ack && answer.ack > ((cursor && cursor.ack) || 0)) {
      next = Object.assign(copy(cursor), { ack: answer.ack, status: answer.status });
      if (answer.full || consistent(answer, current, cursor, config)) {
        Object.keys(answer.series).forEach(function (name) {
          const spec = config.charts[name];
          const fig = edit(spec.graph);
          if (fig) applySeries(fig, spec, answer.series[name], answer.full, palette);
          fresh[spec.graph] = true;
        });
        Object.keys(answer.parts).forEach(function (name) {
          const graph = name === "leaders" ? config.leaders : config.charts[name] && config.charts[name].graph;
          const fig = graph && edit(graph);
          if (fig) applyPart(name, fig, answer.parts[name], palette);
          if (fig) fresh[graph] = true;
        });
        if (answer.session) {
          Object.keys(config.charts).forEach(function (name) {
            const graph = config.charts[name].graph;
            const shown = current[graph] && current[graph].layout.xaxis && current[graph].layout.xaxis.range;
            if (!shown || shown[0] !== answer.session[0] || shown[1] !== answer.session[1]) {
              const fig = edit(graph);
              if (fig) fig.layout.xaxis = Object.assign(copy(fig.layout.xaxis), { range: answer.session });
            }
          });
        }
        next.cursor = { run: answer.run, v: answer.v, n: answer.n };
      } else {
        next.cursor = null; // the figures and the cursor disagree: ask for everything
      }
    }
    if (next !== noUpdate() && next.cursor !== undefined) askAgainIfLate(answer, next);
    const recolour = toneRecolour(config, palette);
    const specs = {};
    Object.keys(config.charts).forEach((k) => (specs[config.charts[k].graph] = config.charts[k]));
    graphs.forEach(function (graph) {
      const fig = edited[graph] || current[graph];
      if (fig && (edited[graph] || (fig.layout && fig.layout.meta !== name))) retheme(edit(graph), palette, name, specs[graph], recolour);
    });
    // New data gets a new datarevision: the server-clock time of the earliest change it brings.
    Object.keys(fresh).forEach(function (graph) {
      if (edited[graph]) edited[graph].layout.datarevision = answer.first || answer.v;
    });
    return graphs.map((g) => edited[g] || noUpdate()).concat([next]);
  }

  dc.market = Object.assign(dc.market || {}, { poll: poll, apply: apply });

  document.addEventListener(
    "click",
    function (event) {
      const target = event.target.closest && event.target.closest("[data-ack-id]");
      if (!target || !target.closest("#market-alerts")) return;
      const button = target.querySelector("button");
      if (button) {
        if (button.disabled) return;
        button.disabled = true;
      }
      target.classList.add("market-ack-pending");
      window.dash_clientside.set_props("market-ack-request", {
        data: { id: target.dataset.ackId, upto: target.dataset.ackUpto, at: Date.now() },
      });
    },
    true
  );
})();
