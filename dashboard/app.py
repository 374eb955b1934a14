"""The wall display and its pages: ``create_app`` builds the Dash app, ``serve`` runs it.

Pages by URL (pages.py): the wall at ``/``, a worker's day replay at ``/worker/<id>``
and ``/terminal/<id>``, a grid's workers at ``/grid/<code>/workers``.

Static geometry is served from ``/gp/static/<version>/<layer>.json`` (gzip, immutable
cache: the version is a hash of the content); the page and its live callbacks never
carry it. Everything the browser loads comes from this server (the product runs offline):
Dash's own bundles, dash-deck's bundle, plotly.js and the assets folder. The same
server answers the HTTP JSON API under ``/api`` (api.py).
"""

from __future__ import annotations

import hashlib
import logging
import string
from pathlib import Path

import dash
from flask import Response, abort, request

from gridpulse.city import load_city
from gridpulse.clock import now_ms
from gridpulse.freshness import Limits
from gridpulse.settings import Settings
from gridpulse.loop.calendar_years import banner, year_gap
from gridpulse.loop.facts import Rules
from gridpulse.views import LiveView

from . import alerts_ui, api, callbacks, deck, guard, layout, timing
from .geometry import static_docs
from .gridfill import GridFillFeed
from .pages import Pages
from .positions import PositionFeed
from .visits import visit_view

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"
# Worker dots change every upload (~1/min a terminal when live); five ticks is plenty
# for dots at city scale and keeps the position stream to a fifth.
POSITIONS_EVERY_TICKS = 5


def _label_chars(city, extra: str) -> str:
    chars = set("0123456789\n ") | set(extra)
    for d in city.districts:
        chars |= set(d.name)
    return "".join(sorted(chars))


def create_app(settings: Settings, redis_url: str) -> dash.Dash:
    """A Dash app showing the live views in ``redis_url`` for ``settings.city``."""
    city = load_city(settings.city)
    docs = static_docs(settings.city)
    version = hashlib.sha1("".join(d.etag for d in docs.values()).encode()).hexdigest()[:12]
    # The city's code scopes the department scores (the API's default area).
    view = LiveView.from_url(redis_url, settings.redis_prefix, settings.timezone, city.code,
                             timeout_s=settings.dash_redis_timeout_s)
    # One judge of the views' freshness for every answer and page (and one log line per
    # Redis outage, whoever meets it first).
    watch = api.RedisWatch(view, Limits.of(settings))
    visits = visit_view(view, city)
    lon0, lat0, _, _ = city.bbox(city.code)
    feed = PositionFeed(view, settings.active_worker_minutes * 60_000,
                        origin=(float(int(lon0)), float(int(lat0))),
                        # Sent every POSITIONS_EVERY_TICKS ticks: re-read twice as often, no
                        # more (a read of ~13,800 positions holds the GIL ~10 ms).
                        min_age_s=settings.dash_interval_ms * POSITIONS_EVERY_TICKS / 2000)

    # Pages are chosen by a callback (pages.py), so callbacks name components that only
    # some pages have.
    app = dash.Dash(__name__, title=f"{city.name} · 网格实时态势", assets_folder=str(ASSETS),
                    serve_locally=True, update_title=None, suppress_callback_exceptions=True,
                    # Callback answers compressed (flask-compress: brotli/gzip as the browser
                    # accepts): the full worker-position snapshot shrinks ~3x (bench/wall.py).
                    compress=True)
    # Server time per callback, at /api/timing (bench/wall.py reads it). Its clock starts
    # before the edge's checks (guard.install), which are part of answering a callback.
    timing.install(app.server, timing.CallbackTimes(), app.callback_map, settings.admin_token)
    guard.install(app, settings.dash_max_body_bytes)
    app.scripts.config.serve_locally = True
    app.css.config.serve_locally = True

    views = deck.district_views(city)
    spec = {**deck.base_spec(city, version, _label_chars(city, string.ascii_letters + "-',.")),
            "labels": [{"c": d.code, "n": d.name, "ne": d.name_en or d.name,
                        "x": [round(d.centroid[0], 4), round(d.centroid[1], 4)], "v": views[d.code]}
                       for d in city.districts],
            # Inserted by the browser once coverage colours are first asked for (wall.js).
            "gridfill": deck.grid_fill_layer(version),
            # Inserted when the hexagons are switched on / the playlist runs (wall.js).
            "heat": deck.heat_layer(), "spotlight": deck.spotlight_layer(version)}
    rules = Rules.load(settings.sla_file, settings.holidays_file, settings.timezone)
    walls = layout.Walls(city, spec, settings.dash_interval_ms,
                         settings.dash_interval_ms * POSITIONS_EVERY_TICKS,
                         # Asked per page load: the banner comes with the new year, not a restart.
                         lambda: banner(year_gap(rules.calendar, now_ms(), settings.timezone)))
    wall = walls.build("zh")
    app.layout = layout.root()
    # The grid colours' arrays are in the order of the static grid geometry (grids.json).
    coverage = GridFillFeed(visits, [code for code, _ in city.rings("grid")])
    pages = Pages(city, visits, settings.timezone, version, wall,
                  int(settings.track_gap_minutes * 60_000))
    callbacks.register(app, view, visits, city, feed, coverage, pages, settings.timezone, watch.limits)
    api.register(app.server, view, city, settings.timezone, rules, visits, watch)
    # The wall in every language/mode, the alerts page and the alerts API (issue 5).
    alerts_ui.register(app, pages, view, city, settings, walls, watch)
    from . import api_drill, drill  # the drill-down pages and /api/area (issue 5)
    api_drill.register(app.server, view, city, settings.timezone, visits, watch)
    drill.register(app, pages, view, visits, city, rules, settings, watch=watch)

    @app.server.route(f"{deck.STATIC_ROUTE}/<ver>/<name>.json")
    def _static(ver: str, name: str):
        doc = docs.get(name)
        if doc is None or ver != version:
            abort(404)
        if request.headers.get("If-None-Match") == doc.etag:
            return Response(status=304)
        resp = Response(doc.gz, mimetype="application/json")
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        resp.headers["ETag"] = doc.etag
        resp.headers["Vary"] = "Accept-Encoding"
        return resp

    return app


def serve(settings: Settings, redis_url: str) -> None:
    """Run the wall on ``settings.dash_host:dash_port`` with waitress (a production WSGI server)."""
    import waitress

    app = create_app(settings, redis_url)
    log.info("wall display on http://%s:%s/", settings.dash_host, settings.dash_port)
    waitress.serve(app.server, **waitress_options(settings))


def waitress_options(settings: Settings) -> dict:
    """How ``serve`` runs waitress (the tests serve the app the same way)."""
    return {"host": settings.dash_host, "port": settings.dash_port, "threads": 8, "ident": "gridpulse",
            "max_request_body_size": guard.waitress_body_limit(settings.dash_max_body_bytes)}
