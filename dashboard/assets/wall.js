/* gridpulse wall display: clientside callbacks (no network, pure browser work).
 *
 * The server sends small live deltas (live.py, positions.py); here they are merged
 * into caches keyed by id and combined with the static pydeck spec (sent once) into
 * the deck document. Static layers reference their geometry by URL, so deck.gl
 * fetched it once and keeps it across every tick.
 */
(function () {
  "use strict";
  var SEV_COLOR = {1: [255, 69, 58], 2: [255, 164, 28], 3: [64, 200, 255], 4: [150, 168, 196]};
  var SEV_RADIUS = {1: 6, 2: 5, 3: 3.6, 4: 3};
  var NEW_MS = 180000; // a case is "new" (ringed on the map) for 3 event-time minutes

  var state = {
    cases: new Map(),      // case id -> [case, ts (epoch ms), lon, lat, category, severity]
    workers: new Map(),    // terminal id -> [lon, lat]
    liveSeq: null, posSeq: null, lastLiveAt: 0, wm: 0, window: 3600000,
    workerRows: [], mapKey: null,
  };

  function h(type, props) {
    return {namespace: "dash_html_components", type: type, props: props || {}};
  }
  function fmtTime(ts, off) {
    var d = new Date(ts + off);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(d.getUTCHours()) + ":" + p(d.getUTCMinutes()) + ":" + p(d.getUTCSeconds());
  }

  function mergeLive(live) {
    if (!live || live.seq === state.liveSeq) { return; }
    state.liveSeq = live.seq;
    state.lastLiveAt = Date.now();
    state.wm = live.wm;
    state.window = live.window;
    // Rows carry their age in seconds at this payload's watermark; keep absolute times.
    live.cases.forEach(function (c) {
      state.cases.set(c[0], [c[0], live.wm - c[1] * 1000, c[2], c[3], c[4], c[5]]);
    });
    var floor = live.wm - live.window;
    state.cases.forEach(function (c, id) { if (c[1] < floor) { state.cases.delete(id); } });
  }

  function mergePositions(pos) {
    if (!pos || pos.cursor === state.posSeq) { return; }
    state.posSeq = pos.cursor;
    if (pos.full) { state.workers.clear(); }
    var ox = pos.o[0], oy = pos.o[1], s = pos.s;
    for (var i = 0; i < pos.id.length; i++) {
      state.workers.set(pos.id[i], [ox + pos.x[i] / s, oy + pos.y[i] / s]);
    }
    pos.gone.forEach(function (id) { state.workers.delete(id); });
    state.workerRows = Array.from(state.workers.values());
  }

  function caseRows() {
    var pts = [], rings = [];
    var span = state.window || 3600000;
    state.cases.forEach(function (c) {
      var age = Math.max(0, state.wm - c[1]);
      var base = SEV_COLOR[c[5]] || SEV_COLOR[3];
      var alpha = Math.round(255 - 150 * Math.min(1, age / span));
      var row = {p: [c[2], c[3]], c: [base[0], base[1], base[2], alpha], r: SEV_RADIUS[c[5]] || 3};
      pts.push(row);
      if (age < NEW_MS) {
        rings.push({p: row.p, c: [base[0], base[1], base[2], 230], r: row.r + 3 + 6 * (1 - age / NEW_MS)});
      }
    });
    // Urgent on top: deck draws in data order.
    pts.sort(function (a, b) { return a.r - b.r; });
    return [pts, rings];
  }

  /* A tile's content: a count as text, or a rate sent in tenths of a percent (an
   * integer, so the text is exact) as "99.1" plus a small "%"; "—" when undefined. */
  function tileValue(v, isRate, texts) {
    if (!isRate) { return String(v); }
    if (v === null || v === undefined) { return texts.ui.no_rate; }
    return [Math.floor(v / 10) + "." + (v % 10), h("Span", {className: "tile-pct", children: "%"})];
  }

  function trendFigure(live, texts) {
    var n = live.trend.length, x = [], labels = [];
    var minuteStart = Math.floor(live.wm / 60000) * 60000;
    for (var i = 0; i < n; i++) {
      var t = minuteStart - (n - 1 - i) * 60000;
      x.push(i);
      labels.push(fmtTime(t, live.off).slice(0, 5));
    }
    var ticks = x.filter(function (i) { return (n - 1 - i) % 10 === 0; });
    return {
      data: [{type: "bar", x: x, y: live.trend, marker: {color: "rgba(64,200,255,0.85)"},
              hoverinfo: "skip"}],
      layout: {
        margin: {l: 34, r: 8, t: 6, b: 26}, height: 164, bargap: 0.25, // = layout.TREND_HEIGHT_PX
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        font: {color: "#8fb3d9", size: 12, family: "Noto Sans CJK SC, sans-serif"},
        xaxis: {tickmode: "array", tickvals: ticks, ticktext: ticks.map(function (i) { return labels[i]; }),
                showgrid: false, zeroline: false, linecolor: "#1f3b5c", fixedrange: true},
        yaxis: {gridcolor: "rgba(60,110,160,0.25)", zeroline: false, rangemode: "tozero",
                fixedrange: true},
        showlegend: false, transition: {duration: 0},
      },
    };
  }

  function tickerRows(live, texts) {
    if (!live.ticker.length) { return [h("Div", {className: "empty", children: texts.ui.no_data})]; }
    return live.ticker.map(function (r) {
      var sev = r[3];
      return h("Div", {className: "tick-row sev-" + sev, key: r[5], children: [
        h("Span", {className: "t-time", children: fmtTime(r[0], live.off)}),
        h("Span", {className: "t-district", children: texts.districts[r[1]] || r[1]}),
        h("Span", {className: "t-cat", children: texts.categories[r[2]] || r[2]}),
        h("Span", {className: "t-sev", children: texts.severities[String(sev)] || sev}),
        h("Span", {className: "t-stage", children: texts.stages[r[4]] || r[4]}),
      ]});
    });
  }

  function districtRows(live, texts) {
    var rows = live.districts.slice().sort(function (a, b) { return b[1] - a[1]; });
    var top = Math.max(1, rows.length ? rows[0][1] : 1);
    return rows.map(function (r, i) {
      return h("Div", {className: "d-row", key: r[0], children: [
        h("Span", {className: "d-rank", children: String(i + 1)}),
        h("Span", {className: "d-name", children: texts.districts[r[0]] || r[0]}),
        h("Span", {className: "d-bar", children: h("Span", {className: "d-fill",
          style: {width: (100 * r[1] / top).toFixed(1) + "%"}})}),
        h("Span", {className: "d-val", id: "district-open-" + r[0], children: String(r[1])}),
      ]});
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridpulse: {
      /* Live payload -> tiles (texts.tiles: [payload key, is a rate] in output order),
       * clock, trend, ticker, district ranking. */
      panels: function (live, texts) {
        if (!live || !texts) {
          var nu = window.dash_clientside.no_update;
          return (texts ? texts.tiles : [0, 0, 0, 0, 0, 0, 0]).concat([0, 0, 0, 0, 0]).map(
            function () { return nu; });
        }
        mergeLive(live);
        var tiles = texts.tiles.map(function (spec) { return tileValue(live.tiles[spec[0]], spec[1], texts); });
        var date = live.clock ? live.clock.slice(0, 10) + " " + texts.weekdays[live.weekday] : "";
        return tiles.concat([live.clock ? live.clock.slice(11) : "--:--:--", date,
                trendFigure(live, texts), tickerRows(live, texts), districtRows(live, texts)]);
      },
      /* Static spec + live cases + worker positions + district labels -> deck document. */
      deck: function (live, pos, base) {
        if (!base) { return window.dash_clientside.no_update; }
        mergeLive(live);
        mergePositions(pos);
        // Same event time, same positions, same counts: nothing on the map can differ,
        // so skip the redraw (a replay paused or a quiet night costs no GPU time).
        var key = (live ? live.wm + "|" + JSON.stringify(live.districts) : "-") + "|" + state.posSeq;
        if (key === state.mapKey) { return window.dash_clientside.no_update; }
        state.mapKey = key;
        var cr = caseRows();
        var labels = [];
        if (live && base.labels) {
          var open = {};
          live.districts.forEach(function (d) { open[d[0]] = d[1]; });
          labels = base.labels.map(function (l) {
            return {x: l.x, t: l.n + "\n" + (open[l.c] === undefined ? "" : open[l.c])};
          });
        }
        var slots = {"workers": state.workerRows, "cases": cr[0], "cases-new": cr[1], "labels": labels};
        var layers = base.spec.layers.map(function (l) {
          return (l.id in slots) ? Object.assign({}, l, {data: slots[l.id]}) : l;
        });
        return Object.assign({}, base.spec, {layers: layers});
      },
      /* Green while live payloads keep arriving, red once several ticks are missed. */
      indicator: function (n, intervalMs, texts) {
        if (!texts) { return ["live-ind waiting", ""]; }
        if (!state.lastLiveAt) { return ["live-ind waiting", texts.ui.waiting]; }
        var late = Date.now() - state.lastLiveAt > 4 * (intervalMs || 1000);
        return late ? ["live-ind stale", texts.ui.stale] : ["live-ind live", texts.ui.live];
      },
    },
  });
})();
