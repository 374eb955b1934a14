/* gridpulse drill-down pages (drill.py, case_page.py): the deck documents, in the browser.
 *
 * The area page carries its geometry once (store "d-geo": the base document fitted to
 * the area, the area's outline, its children's polygons); every refresh brings only
 * figures (store "d-fig": a value per child for each colour key, the open cases as
 * points), which colour the polygons and place the points here.
 */
(function () {
  "use strict";

  var RAMP = [[22, 58, 96], [31, 92, 140], [38, 128, 170], [230, 170, 40], [235, 110, 40], [230, 60, 50]];
  var COV = [[120, 40, 40], [170, 90, 40], [200, 160, 50], [90, 170, 90], [40, 190, 140], [30, 210, 190]];
  var SEV = {1: [255, 69, 58], 2: [255, 164, 28], 3: [64, 200, 255], 4: [150, 168, 196]};

  function colour(ramp, f) {
    var i = Math.max(0, Math.min(ramp.length - 1, Math.floor(f * ramp.length)));
    return ramp[i];
  }

  function text(key, v) {
    if (v === null || v === undefined) { return "—"; }
    if (key === "coverage_30d") { return (v * 100).toFixed(1) + "%"; }
    return String(v);
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  /* The children table's body (one row per child area, every figure right-aligned). */
  function childrenHtml(fig) {
    return fig.children.map(function (r) {
      var cells = r.v.map(function (v, i) {
        return '<td class="num" id="d-child-' + esc(r.c) + "-" + esc(fig.cols[i]) + '">' + esc(v) + "</td>";
      }).join("");
      return '<tr class="d-child"><td><a class="d-link" id="d-child-link-' + esc(r.c) + '" href="' +
        esc(r.h) + '">' + esc(r.n) + "</a></td>" + cells + "</tr>";
    }).join("");
  }

  /* The open-case table's body, most late first (the server's order). */
  function casesHtml(fig) {
    if (!fig.cases.length) {
      return '<tr><td colspan="8" class="empty">' + esc(fig.no_cases) + "</td></tr>";
    }
    return fig.cases.map(function (r) {
      var v = r.v, cls = "d-case-row sev-" + r.s + (r.o ? " overdue" : "");
      return '<tr class="' + cls + '"><td><a class="d-link d-case-link" href="' + esc(r.h) + '">' +
        esc(r.id) + "</a></td><td>" + esc(v[0]) + '</td><td class="d-sev">' + esc(v[1]) + "</td><td>" +
        esc(v[2]) + "</td><td>" + esc(v[3]) + '</td><td class="d-gname">' + esc(v[4]) +
        '</td><td class="num">' + esc(v[5]) + '</td><td class="num d-late ' + esc(r.l) + '">' +
        esc(v[6]) + "</td></tr>";
    }).join("");
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    drill: {
      /* Figures -> the two tables, written straight into their bodies: hundreds of rows
       * as Dash components cost the renderer seconds at each refresh, this a few ms. */
      tables: function (fig) {
        var nu = window.dash_clientside.no_update;
        if (!fig) { return nu; }
        var kids = document.getElementById("d-children");
        if (kids) { kids.innerHTML = childrenHtml(fig); }
        var cases = document.getElementById("d-cases");
        if (cases) { cases.innerHTML = casesHtml(fig); }
        return fig.wm;
      },
      /* Figures + colour key + geometry -> [deck document, legend]. */
      deck: function (fig, key, geo) {
        var nu = window.dash_clientside.no_update;
        if (!geo) { return [nu, nu]; }
        key = key || "open";
        var values = (fig && fig.values) || {};
        var top = 0;
        Object.keys(values).forEach(function (c) {
          var v = values[c][key];
          if (v !== null && v !== undefined && v > top) { top = v; }
        });
        var kids = geo.children.map(function (row) {
          var v = values[row.c] ? values[row.c][key] : null;
          var f = (v === null || v === undefined) ? -1 :
            (key === "coverage_30d" ? v : (top > 0 ? v / top : 0));
          var rgb = f < 0 ? [40, 50, 70] : colour(key === "coverage_30d" ? COV : RAMP, Math.min(0.999, f));
          return {p: row.p, f: [rgb[0], rgb[1], rgb[2], 150], n: row.n, t: text(key, v)};
        });
        var pts = ((fig && fig.points) || []).map(function (p) {
          var c = p.o ? [255, 60, 50] : (SEV[p.s] || SEV[3]);
          return {p: p.p, c: [c[0], c[1], c[2], 235], r: p.o ? 6 : 4, n: p.id, t: ""};
        });
        var layers = geo.doc.layers.concat([
          {"@@type": "PolygonLayer", id: "d-children", data: kids, getPolygon: "@@=p",
           getFillColor: "@@=f", filled: true, stroked: true, getLineColor: [150, 200, 255, 200],
           lineWidthMinPixels: 1, pickable: true},
          {"@@type": "PathLayer", id: "d-outline", data: geo.outline, getPath: "@@=-",
           getColor: [255, 196, 64, 240], widthMinPixels: 3, widthUnits: "pixels", getWidth: 3},
          {"@@type": "ScatterplotLayer", id: "d-cases", data: pts, getPosition: "@@=p",
           getFillColor: "@@=c", getRadius: "@@=r", radiusUnits: "pixels", stroked: true,
           getLineColor: [255, 255, 255, 180], lineWidthMinPixels: 1, pickable: true}
        ]);
        var legend = key === "coverage_30d" ? "0% → 100%" : "0 → " + top;
        return [Object.assign({}, geo.doc, {layers: layers}), legend];
      },
      /* The case page's small map: the case's point on its grid. */
      caseDeck: function (geo) {
        var nu = window.dash_clientside.no_update;
        if (!geo) { return nu; }
        var layers = geo.doc.layers.concat([
          {"@@type": "PathLayer", id: "c-grid", data: geo.outline, getPath: "@@=-",
           getColor: [255, 196, 64, 240], widthMinPixels: 3, widthUnits: "pixels", getWidth: 3},
          {"@@type": "ScatterplotLayer", id: "c-point", data: geo.points, getPosition: "@@=p",
           getFillColor: "@@=c", getRadius: 8, radiusUnits: "pixels", stroked: true,
           getLineColor: [255, 255, 255, 255], lineWidthMinPixels: 2}
        ]);
        return Object.assign({}, geo.doc, {layers: layers});
      }
    }
  });
})();
