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
  // Grid coverage colours (percent, see coverage.py): bucket 0 = no household visited,
  // 1 = under 10%, 2..8 = 10%-steps, 9 = 80% and more. Bucket digits index this palette.
  var COV_PALETTE = [[0, 0, 0, 0], [120, 60, 40, 150], [170, 90, 40, 160], [205, 130, 40, 165],
                     [225, 175, 50, 170], [200, 205, 60, 170], [150, 210, 80, 175],
                     [90, 205, 110, 180], [50, 195, 150, 185], [30, 220, 190, 195]];
  // Cases per grid (open or overdue now; gridfill.py): bucket 0 = none, then 1, 2, 3-4,
  // 5-9, 10 and more (layout.CASE_STEPS), yellow to red.
  var CASE_PALETTE = [[0, 0, 0, 0], [255, 214, 102, 120], [255, 176, 64, 150], [255, 132, 48, 175],
                      [245, 86, 48, 195], [220, 40, 60, 215]];
  var CASE_MODES = {open: true, overdue: true};
  var COV_MIN_MS = 60000; // rebuild the colour expression at most once a minute (see covExpr)
  var SPOT_COLOR = [255, 206, 84, 255];

  /* The wall is designed at 1920x1080; wall.css scales every size by --u (1px at
   * 1920x1080, 2px at 3840x2160). Sizes the browser draws itself (plotly, deck text)
   * use the same factor. */
  function unit() {
    return Math.max(0.5, Math.min(window.innerWidth / 1920, window.innerHeight / 1080));
  }

  var state = {
    cases: new Map(),      // case id -> [case, ts (epoch ms), lon, lat, category, severity]
    workers: new Map(),    // terminal id -> [lon, lat]
    liveSeq: null, posSeq: null, lastLiveAt: 0, wm: 0, window: 3600000, fresh: null,
    workerRows: [], mapKey: null, underKey: null,
    cov: null, covSeq: null, covWindow: null, covKey: 0, covExpr: null, covBuiltAt: 0,
    covDirty: false, fillOn: false,
    heatRows: [], heatSeq: null, heatOn: false,
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
    state.fresh = live.fresh || null;
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
      // Ids of one pattern come as numbers, with their prefix and width (positions.py).
      var id = pos.p === undefined ? pos.id[i] : pos.p + String(pos.id[i]).padStart(pos.w, "0");
      // t: the terminal, for the dot's tooltip and the click that opens its day.
      state.workers.set(id, {p: [ox + pos.x[i] / s, oy + pos.y[i] / s], t: id});
    }
    pos.gone.forEach(function (id) { state.workers.delete(id); });
    state.workerRows = Array.from(state.workers.values());
  }

  /* Coverage per grid, in the order of the static grid geometry: the whole array, or
   * index/value pairs of the grids that changed (coverage.py). */
  function mergeCoverage(cov) {
    if (!cov || cov.cursor === state.covSeq) { return; }
    state.covSeq = cov.cursor;
    if (cov.full || !state.cov || state.covWindow !== cov.w || state.cov.length !== cov.n) {
      state.cov = cov.v.slice();
    } else {
      for (var i = 0; i < cov.i.length; i++) { state.cov[cov.i[i]] = cov.v[i]; }
    }
    state.covWindow = cov.w;
    state.covDirty = true;
  }

  /* Today's new cases per grid (coverage.HeatFeed): the whole list when it changed. */
  function mergeHeat(heat) {
    if (!heat || heat.cursor === state.heatSeq) { return; }
    state.heatSeq = heat.cursor;
    state.heatRows = heat.pts.map(function (p) { return {p: [p[0], p[1]], w: p[2]}; });
  }

  function bucket(v) {
    if (v === undefined || v === null || v <= 0) { return 0; }
    if (v < 10) { return 1; }
    return Math.min(9, 1 + Math.floor(v / 10));
  }
  function caseBucket(v) {
    if (v === undefined || v === null || v <= 0) { return 0; }
    return v < 3 ? v : (v < 5 ? 3 : (v < 10 ? 4 : 5));
  }

  /* The fill colour of the 12,216 URL-loaded grid polygons. A deck/json document cannot
   * carry functions, and rows from gridfill.json only know their index i, so the colour
   * is a JSON expression: the palette indexed by the i-th digit of a string of bucket
   * digits, one per grid. deck.gl caches each distinct expression, hence the rebuild at
   * most once a minute for coverage and every ten seconds for cases (and only when
   * some grid changed bucket). */
  function covExpr(mode) {
    if (!state.cov || state.covWindow !== mode) { return null; }
    var now = Date.now();
    var cases = !!CASE_MODES[mode];
    if (state.covDirty && (!state.covExpr || state.covExpr.mode !== mode
                           || now - state.covBuiltAt >= (cases ? COV_MIN_MS / 6 : COV_MIN_MS))) {
      var digits = state.cov.map(cases ? caseBucket : bucket).join("");
      if (!state.covExpr || state.covExpr.digits !== digits || state.covExpr.mode !== mode) {
        state.covKey += 1;
        var palette = cases ? CASE_PALETTE : COV_PALETTE;
        state.covExpr = {mode: mode, digits: digits, key: state.covKey,
                         expr: "@@=(" + JSON.stringify(palette) + ')[("' + digits + '")[i]]'};
      }
      state.covBuiltAt = now;
      state.covDirty = false;
    }
    return state.covExpr;
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
        // Pulse: the ring swells and fades on alternate event-time seconds while the case is new.
        // Event-time driven: a frozen clock (replay paused, no data) redraws nothing.
        var beat = Math.floor(state.wm / 1000) % 2;
        rings.push({p: row.p, c: [base[0], base[1], base[2], beat ? 110 : 240],
                    r: row.r + 3 + 6 * (1 - age / NEW_MS) + (beat ? 7 : 0)});
      }
    });
    // Urgent on top: deck draws in data order.
    pts.sort(function (a, b) { return a.r - b.r; });
    return [pts, rings];
  }

  /* A count in the page's language: English groups thousands ("12,345"). */
  function fmtNum(v, texts) {
    if (v === null || v === undefined) { return "–"; }
    var sep = texts && texts.fmt ? texts.fmt.group : "";
    var s = String(v);
    if (!sep || Math.abs(v) < 1000) { return s; }
    return s.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
  }
  function fmtCount(v, texts) { return fmtNum(v, texts); }

  /* The event date ("2026-11-27 星期五" / "Fri 27 Nov 2026") from the payload's local
   * clock text "YYYY-MM-DD HH:MM:SS". */
  function fmtDate(clock, weekday, texts) {
    if (!clock) { return ""; }
    var ymd = clock.slice(0, 10);
    if (texts.fmt && texts.fmt.date === "dmy" && texts.months) {
      var p = ymd.split("-");
      return texts.weekdays[weekday] + " " + parseInt(p[2], 10) + " "
        + texts.months[parseInt(p[1], 10) - 1] + " " + p[0];
    }
    return ymd + " " + texts.weekdays[weekday];
  }

  function lateText(ms, texts) {
    var m = Math.max(0, Math.floor(ms / 60000));
    if (m >= 60) { return texts.ui.late_h.replace("{h}", fmtNum(Math.floor(m / 60), texts)); }
    return texts.ui.late_m.replace("{m}", String(m));
  }

  /* A tile's content: a count as text, or a rate sent in tenths of a percent (an
   * integer, so the text is exact) as "99.1" plus a small "%"; "—" when undefined. */
  function tileValue(v, isRate, texts) {
    if (!isRate) { return fmtNum(v, texts); }
    if (v === null || v === undefined) { return texts.ui.no_rate; }
    return [Math.floor(v / 10) + "." + (v % 10), h("Span", {className: "tile-pct", children: "%"})];
  }

  /* The views' freshness in words (as freshness_ui.label): "live", "behind by N
   * records · S s", "rebuilding n%", "stale since HH:MM", "no data yet", "Redis
   * unreachable". */
  function stateText(f, texts) {
    var T = texts.ui;
    if (!f) { return T.waiting; }
    if (f.state === "behind") {
      var parts = [];
      if (f.records) { parts.push(T.st_records.replace("{n}", fmtNum(f.records, texts))); }
      if (f.secs) { parts.push(T.st_secs.replace("{s}", fmtNum(f.secs, texts))); }
      return parts.length ? T.st_behind.replace("{what}", parts.join(" · ")) : T.st_behind_plain;
    }
    if (f.state === "rebuilding") { return T.st_rebuilding.replace("{p}", String(f.pct || 0)); }
    if (f.state === "stale") { return f.since ? T.st_stale.replace("{t}", f.since) : T.st_stale_plain; }
    if (f.state === "empty") { return T.st_empty; }
    if (f.state === "unreachable") { return T.st_unreachable; }
    return T.live;
  }

  function trendFigure(live, texts) {
    var trend = live.trend || [];
    var n = trend.length, x = [], labels = [];
    var minuteStart = Math.floor(live.wm / 60000) * 60000;
    for (var i = 0; i < n; i++) {
      var t = minuteStart - (n - 1 - i) * 60000;
      x.push(i);
      labels.push(fmtTime(t, live.off).slice(0, 5));
    }
    var ticks = x.filter(function (i) { return (n - 1 - i) % 10 === 0; });
    var u = unit();
    return {
      data: [{type: "bar", x: x, y: trend, marker: {color: "rgba(64,200,255,0.85)"},
              hoverinfo: "skip"}],
      layout: {
        margin: {l: Math.round(34 * u), r: Math.round(8 * u), t: Math.round(6 * u), b: Math.round(26 * u)},
        height: Math.round(146 * u), bargap: 0.25, // = layout.TREND_HEIGHT_PX
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        font: {color: "#8fb3d9", size: Math.round(12 * u), family: "Noto Sans CJK SC, sans-serif"},
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
    // A district without a figure (no case views to read) sorts last with an empty bar.
    var rows = live.districts.slice().sort(function (a, b) { return (b[1] || 0) - (a[1] || 0); });
    var top = Math.max(1, rows.length ? rows[0][1] || 0 : 1);
    var q = texts.lang === "en" ? "?lang=en" : "";
    return rows.map(function (r, i) {
      // Each entry opens the district's own page (drill-down).
      return h("A", {className: "d-row", key: r[0], href: "/district/" + r[0] + q, children: [
        h("Span", {className: "d-rank", children: String(i + 1)}),
        h("Span", {className: "d-name", children: texts.districts[r[0]] || r[0]}),
        h("Span", {className: "d-bar", children: h("Span", {className: "d-fill",
          style: {width: (100 * (r[1] || 0) / top).toFixed(1) + "%"}})}),
        h("Span", {className: "d-val", id: "district-open-" + r[0], children: fmtNum(r[1], texts)}),
      ]});
    });
  }

  /* The static canvas: district fills, the grid colours (once asked for, kept in the
   * list and hidden when off, so gridfill.json loads only once), grid and town outlines,
   * the playlist's spotlit district. */
  function underDoc(base, coloured, fill, spot, view, u) {
    var layers = [];
    base.under.layers.forEach(function (l) {
      layers.push(l);
      if (l.id === "districts" && state.fillOn && base.gridfill) {
        var f = fill || state.covExpr;
        layers.push(Object.assign({}, base.gridfill, {
          visible: coloured && !!fill,
          getFillColor: f ? f.expr : [0, 0, 0, 0],
          updateTriggers: {getFillColor: f ? f.key : 0}}));
      }
      if (l.id === "towns" && spot && base.spotlight) {
        layers.push(Object.assign({}, base.spotlight, {
          getLineColor: "@@=c === '" + spot.code + "' ? " + JSON.stringify(SPOT_COLOR) + " : [0, 0, 0, 0]",
          getLineWidth: Math.round(4 * u), updateTriggers: {getLineColor: spot.code}}));
      }
    });
    var doc = Object.assign({}, base.under, {layers: layers});
    if (view) { doc.initialViewState = view; }
    return doc;
  }

  /* The live canvas: today's hexagons (once switched on, under the points), worker
   * dots, cases and the newest cases' rings, district labels with their open counts. */
  function overDoc(base, live, hexOn, view, texts, en, u) {
    var cr = caseRows();
    var labels = [];
    if (live && base.labels) {
      var open = {};
      live.districts.forEach(function (d) { open[d[0]] = d[1]; });
      labels = base.labels.map(function (l) {
        var name = en ? (l.ne || l.n) : l.n;
        return {x: l.x, t: name + "\n" + (open[l.c] === undefined ? "" : fmtNum(open[l.c], texts))};
      });
    }
    var slots = {"workers": state.workerRows, "cases": cr[0], "cases-new": cr[1], "labels": labels};
    var layers = [];
    if (state.heatOn && base.heat) {
      layers.push(Object.assign({}, base.heat, {data: state.heatRows, visible: hexOn}));
    }
    base.over.layers.forEach(function (l) {
      // The newest cases pulse: their rings swell and fade on alternate ticks (no
      // per-frame animation: a wall PC without a GPU must not redraw 60 times a second).
      var out = (l.id in slots) ? Object.assign({}, l, {data: slots[l.id]}) : l;
      if (l.id === "labels") { out = Object.assign({}, out, {getSize: Math.round(18 * u)}); }
      layers.push(out);
    });
    var doc = Object.assign({}, base.over, {layers: layers});
    if (view) { doc.initialViewState = view; }
    return doc;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridpulse: {
      /* Live payload -> tiles (texts.tiles.tiles: [payload key, is a rate] in output
       * order, then texts.tiles.subs: payload keys of the sub-figures), clock, trend,
       * ticker, district ranking. */
      panels: function (live, texts) {
        if (!live || !texts) {
          var nu = window.dash_clientside.no_update;
          var n = texts ? texts.tiles.tiles.length + texts.tiles.subs.length : 9;
          return new Array(n + 5).fill(nu);
        }
        mergeLive(live);
        var tiles = texts.tiles.tiles.map(function (spec) {
          return tileValue(live.tiles[spec[0]], spec[1], texts);
        });
        var subs = texts.tiles.subs.map(function (key) { return fmtCount(live.tiles[key], texts); });
        var date = fmtDate(live.clock, live.weekday, texts);
        return tiles.concat(subs, [live.clock ? live.clock.slice(11) : "--:--:--", date,
                trendFigure(live, texts), tickerRows(live, texts), districtRows(live, texts)]);
      },
      /* Static spec + live cases + worker positions + district labels (+ grid colours
       * when the selector asks) -> the two deck documents (deck.base_spec: static
       * outlines under, live layers over) and the legend's class. The static canvas gets
       * a new document only when its colours, the spotlit district or the view change:
       * redrawing its 12,216 outlines every tick is what kept a wall without a GPU from
       * updating once a second. */
      deck: function (live, pos, cov, mode, heat, heatOn, spot, base, texts) {
        var nu = window.dash_clientside.no_update;
        if (!base) { return [nu, nu, nu]; }
        mergeLive(live);
        mergePositions(pos);
        mergeCoverage(cov);
        mergeHeat(heat);
        var hexOn = !!(heatOn && heatOn.length);
        if (hexOn) { state.heatOn = true; }
        var en = texts && texts.lang === "en";
        var u = unit();
        var coloured = !!mode && mode !== "none";
        var fill = coloured ? covExpr(mode) : null;
        if (coloured) { state.fillOn = true; }
        var legend = !coloured ? "cov-legend hidden" : (CASE_MODES[mode] ? "cov-legend cases" : "cov-legend");
        var view = null;
        if (spot) {
          var lab = (base.labels || []).filter(function (l) { return l.c === spot.code; })[0];
          if (lab && lab.v) { view = Object.assign({}, lab.v, {transitionDuration: 1200}); }
        }
        var under = nu, over = nu;
        // (u: the spotlight's line width follows the screen's size)
        var underKey = mode + "|" + (fill ? fill.key : "-") + "|" + state.fillOn + "|" + (spot ? spot.code : "-")
          + "|" + u;
        if (underKey !== state.underKey) {
          state.underKey = underKey;
          under = underDoc(base, coloured, fill, spot, view, u);
        }
        // Same event time, same positions, same counts: nothing on the live canvas can
        // differ, so skip the redraw (a replay paused or a quiet night costs no GPU time).
        var key = (live ? live.wm + "|" + JSON.stringify(live.districts) : "-") + "|" + state.posSeq
          + "|" + hexOn + "|" + state.heatSeq + "|" + (spot ? spot.code : "-");
        if (key !== state.mapKey) {
          state.mapKey = key;
          over = overDoc(base, live, hexOn, view, texts, en, u);
        }
        return [under, over, legend];
      },
      /* The slow side payload (live.WallFeeds) -> the overdue board (most late first,
       * CaseList order) and the alerts panel (open count, newest few). */
      sidePanels: function (side, live, texts) {
        var nu = window.dash_clientside.no_update;
        if (!side || !texts) { return [nu, nu, nu]; }
        // No case views (or board) to read: "no data", not an empty board.
        var none = [h("Div", {className: "empty", children: texts.ui.no_data})];
        var off = live ? live.off : 0;
        var od = !side.overdue ? none : side.overdue.rows.length ? side.overdue.rows.map(function (r) {
          return h("Div", {className: "od-row sev-" + r[3], key: r[0], children: [
            h("Span", {className: "od-late", children: lateText(r[5], texts)}),
            h("Span", {className: "od-district", children: texts.districts[r[1]] || r[1]}),
            h("Span", {className: "od-cat", children: texts.categories[r[2]] || r[2]}),
            h("Span", {className: "od-stage", children: texts.stages[r[4]] || r[4]}),
            h("Span", {className: "od-case", children: r[0]}),
          ]});
        }) : [h("Div", {className: "empty", children: texts.ui.no_overdue})];
        var al = side.alerts;
        var count = al ? fmtNum(al.open, texts) + (al.more ? "+" : "") : "–";
        var rows = !al ? none : al.rows.length ? al.rows.map(function (r) {
          return h("Div", {className: "al-row al-" + r[1], key: r[0], children: [
            h("Span", {className: "al-time", children: fmtTime(r[2], off).slice(0, 5)}),
            h("Span", {className: "al-kind", children: texts.ui["k_" + r[1]] || r[1]}),
            h("Span", {className: "al-district", children: texts.districts[r[3]] || r[3]}),
            h("Span", {className: "al-subject", children: r[5]}),
          ]});
        }) : [h("Div", {className: "empty", children: texts.ui.no_alerts})];
        return [od, count, rows];
      },
      /* The playlist's spotlight card: the district's name and figures. */
      spotlight: function (spot, texts) {
        if (!spot || !texts) { return ["spotlight hidden", "", "–", "–", "–", "–"]; }
        return ["spotlight", texts.districts[spot.code] || spot.code, fmtNum(spot.open, texts),
                fmtNum(spot.overdue, texts), fmtNum(spot.new, texts), fmtNum(spot.hour, texts)];
      },
      /* A click on a worker dot opens that terminal's day replay in a new tab. */
      openWorker: function (info) {
        var t = info && info.object && info.object.t;
        if (!t) { return window.dash_clientside.no_update; }
        var url = "/terminal/" + encodeURIComponent(t);
        var w = window.open(url, "_blank");
        if (!w) { window.location.href = url; }
        return url;
      },
      /* Today's dead letters (live.dead): muted at 0, amber otherwise. */
      deadCount: function (live, texts) {
        var nu = window.dash_clientside.no_update;
        if (!live || !texts || live.dead === undefined || live.dead === null) { return [nu, nu]; }
        return [fmtCount(live.dead, texts), live.dead > 0 ? "dead-count some" : "dead-count none"];
      },
      /* The title bar's state (the views' freshness, sent with each live payload) and,
       * while the figures are not current, the wall dimmed with the time they are from.
       * Several ticks without a payload: the wall's own server is not answering. */
      indicator: function (n, live, intervalMs, texts) {
        if (!texts) { return ["live-ind waiting", "", "body", ""]; }
        mergeLive(live);
        if (!state.lastLiveAt) { return ["live-ind waiting", texts.ui.waiting, "body", ""]; }
        var f = state.fresh;
        var asof = f && f.asof ? texts.ui.st_asof.replace("{t}", f.asof) : "";
        if (Date.now() - state.lastLiveAt > 4 * (intervalMs || 1000)) {
          return ["live-ind lost", texts.ui.st_lost, "body dim", asof];
        }
        if (!f) { return ["live-ind live", texts.ui.live, "body", ""]; }
        return ["live-ind " + f.state, stateText(f, texts), f.dim ? "body dim" : "body", f.dim ? asof : ""];
      },
    },
  });

  /* The alerts page (alerts_ui.py): acknowledging asks who and an optional comment, then
   * POSTs /api/alerts/<id>/ack; the table shows the acknowledgement on its next refresh
   * (it travels through Kafka and the worker like every other fact). */
  function ackDialog() { return document.getElementById("ack-dialog"); }
  function ackMsg(text, ok) {
    var el = document.getElementById("ack-error");
    if (el) { el.textContent = text || ""; el.className = ok ? "ack-msg ok" : "ack-msg"; }
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!t || !t.closest) { return; }
    var btn = t.closest(".ack-open");
    var dlg = ackDialog();
    if (btn && dlg) {
      dlg.dataset.alert = btn.getAttribute("data-alert");
      var target = document.getElementById("ack-target");
      if (target) { target.textContent = dlg.dataset.alert; }
      ackMsg("");
      dlg.classList.remove("hidden");
      var by = document.getElementById("ack-by");
      if (by) { by.focus(); }
      return;
    }
    if (t.closest("#ack-cancel") && dlg) { dlg.classList.add("hidden"); return; }
    if (t.closest("#ack-send") && dlg) {
      var byEl = document.getElementById("ack-by"), cEl = document.getElementById("ack-comment");
      var who = (byEl && byEl.value || "").trim(), comment = (cEl && cEl.value || "").trim();
      if (!who) { ackMsg(dlg.getAttribute("data-need-by") || "by"); return; }
      var id = dlg.dataset.alert;
      fetch("/api/alerts/" + encodeURIComponent(id) + "/ack", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({by: who, comment: comment}),
      }).then(function (resp) {
        return resp.json().then(function (doc) { return [resp.status, doc]; });
      }).then(function (res) {
        if (res[0] === 202) {
          dlg.classList.add("hidden");
          if (cEl) { cEl.value = ""; }
          var note = document.getElementById("ack-note");
          if (note) { note.textContent = (dlg.getAttribute("data-sent") || "") + " · " + id; }
          var row = document.querySelector('.ack-open[data-alert="' + id.replace(/"/g, '\\"') + '"]');
          if (row) { row.closest("tr").classList.add("ack-pending"); }
        } else {
          ackMsg(res[0] + " " + (res[1].field || "") + ": " + (res[1].error || ""));
        }
      }).catch(function (err) { ackMsg(String(err)); });
    }
  });
})();

