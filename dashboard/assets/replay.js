/* gridpulse day replay (replay.py): frames and play/pause, in the browser only.
 *
 * The page carries the terminal-day once (store "replay-data": trips with timestamps in
 * seconds since the local day start, stays, the deck document). A frame sets the
 * TripsLayer's currentTime, brightens the stays already begun, and puts a marker where
 * the worker was; play/pause steps the slider with a dcc.Interval.
 */
(function () {
  "use strict";

  var lastTickAt = 0; // when the previous play step ran (ms, performance clock)

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* Seconds since the local day start as HH:MM:SS (the day's wall-clock time). */
  function hms(s) {
    s = Math.max(0, Math.floor(s));
    return pad(Math.floor(s / 3600)) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }

  /* Where the worker was at time s: interpolated along the trip that holds s, else the
   * last point before s (a gap), else the first point of the day. */
  function positionAt(trips, s) {
    var last = null;
    for (var k = 0; k < trips.length; k++) {
      var t = trips[k].t, p = trips[k].p;
      if (!t.length) { continue; }
      if (s < t[0]) { return last || p[0]; }
      if (s <= t[t.length - 1]) {
        var lo = 0, hi = t.length - 1;
        while (hi - lo > 1) {
          var mid = (lo + hi) >> 1;
          if (t[mid] <= s) { lo = mid; } else { hi = mid; }
        }
        var span = t[hi] - t[lo], f = span > 0 ? (s - t[lo]) / span : 0;
        return [p[lo][0] + (p[hi][0] - p[lo][0]) * f, p[lo][1] + (p[hi][1] - p[lo][1]) * f];
      }
      last = p[p.length - 1];
    }
    return last;
  }

  function stayRows(data, s) {
    return data.stays.map(function (st) {
      var rgb = st.v ? data.colors.visit : data.colors.stay;
      var begun = st.s <= s, now = begun && s <= st.e;
      return {p: st.p, c: [rgb[0], rgb[1], rgb[2], begun ? 235 : 70], r: now ? 9 : (begun ? 6 : 4)};
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    replay: {
      /* Slider value (seconds since the day start) -> deck document and time label. */
      frame: function (value, data) {
        var nu = window.dash_clientside.no_update;
        if (!data) { return [nu, nu]; }
        var s = (value === null || value === undefined) ? data.t0 : value;
        var here = positionAt(data.trips, s);
        var layers = data.doc.layers.map(function (l) {
          if (l.id === "trips") { return Object.assign({}, l, {currentTime: s}); }
          if (l.id === "stays") { return Object.assign({}, l, {data: stayRows(data, s)}); }
          if (l.id === "now") { return Object.assign({}, l, {data: here ? [{p: here}] : []}); }
          return l;
        });
        return [Object.assign({}, data.doc, {layers: layers}), hms(s)];
      },
      /* Play/pause button and the interval's ticks: [interval disabled, button text, slider]. */
      play: function (clicks, ticks, paused, value, speed, data) {
        var nu = window.dash_clientside.no_update;
        if (!data) { return [nu, nu, nu]; }
        var ctx = window.dash_clientside.callback_context;
        var byButton = ctx.triggered.some(function (t) { return t.prop_id === "replay-play.n_clicks"; });
        var s = (value === null || value === undefined) ? data.t0 : value;
        var now = performance.now();
        if (byButton) {
          if (!paused) { return [true, data.texts.play, nu]; }
          lastTickAt = now;
          // Playing from the end starts the day again.
          return [false, data.texts.pause, s >= data.t1 ? data.t0 : nu];
        }
        if (paused) { return [nu, nu, nu]; }
        // Step by the real time elapsed, not per tick: a slow machine drops frames but
        // keeps the speed (capped, so a tab woken from the background does not leap).
        var real = Math.min(2000, Math.max(0, now - (lastTickAt || now - data.tick_ms)));
        lastTickAt = now;
        var next = s + (speed || 300) * real / 1000;
        if (next >= data.t1) { return [true, data.texts.play, data.t1]; }
        return [nu, nu, Math.round(next)];
      },
    },
  });
})();
