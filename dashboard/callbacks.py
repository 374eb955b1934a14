"""Dash callbacks: thin server adapters over Redis and clientside renderers.

Server side (no rendering): the page for the URL (pages.py), and from memory, kept
fresh by a background pump (pump.py): the 1-second live payload (live.LiveFeed), the
overdue board and alerts summary (live.WallFeeds, on the slower tick), the slower
worker-position delta, the per-grid colours (gridfill.GridFillFeed: cases or coverage),
today's hexagon counts (gridfill.HeatFeed); and the playlist's spotlit district.
Browser side (assets/wall.js, assets/replay.js): tiles/trend/ticker/ranking, overdue
board, alerts panel, spotlight card, the deck document, the live indicator, opening a
worker's day from the map, and the replay's frames and play/pause.

Each server callback declares the values it accepts (checks.py): a forged one is refused
before the callback reads it.
"""

from __future__ import annotations

import itertools
import logging
import threading

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from gridpulse.city import CityModel
from gridpulse.freshness import CASE, EMPTY, REBUILDING, Limits
from gridpulse.views import UNREACHABLE, LiveView
from gridpulse.visit_views import VisitView

from . import live
from .checks import accepts, choice, count, flag, integer, matches, subset, text
from .gridfill import FILL_MODES, GridFillFeed, HeatFeed
from .layout import MAP_MODES, SUBS, TILES
from .pages import Pages
from .positions import PositionFeed
from .pump import FeedPump

log = logging.getLogger(__name__)
# The feeds' cursors as they hand them out: "<epoch>:<version>", the grid colours' with
# their mode between (positions.py, gridfill.py).
_EPOCH_CURSOR = matches(r"[0-9a-f]{8}:[0-9]{1,18}", "a cursor <epoch>:<version>")
_FILL_CURSOR = matches(r"[0-9a-f]{8}:[a-z0-9]{1,16}:[0-9]{1,18}", "a cursor <epoch>:<mode>:<version>")


class _Seq:
    """Process-wide payload sequence numbers, so the browser merges each payload once."""

    def __init__(self) -> None:
        self._it = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._it)


def register(app: Dash, view: LiveView, visits: VisitView, city: CityModel, feed: PositionFeed,
             coverage: GridFillFeed, pages: Pages, tz: str, limits: Limits = Limits()) -> None:
    """Wire every callback of the app onto ``app``."""
    seq = _Seq()
    feeds = live.WallFeeds(view, limits=limits)
    heat = HeatFeed(view, city, tz)
    # The whole-city feeds are re-read in the background while browsers ask for them:
    # a callback answers from memory (pump.py).
    live_feed = live.LiveFeed(view, visits, city, tz, limits=limits)
    pump = FeedPump()
    for f in (live_feed, feed, coverage, heat, feeds):
        pump.add(f)
    pump.start()
    districts = [d.code for d in city.districts]

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    @accepts(text(), text())
    def _page(path, search):
        try:
            return pages.render(path, search)
        except UNREACHABLE:  # a page that reads Redis to be built says why it cannot be
            return pages.unreachable(path, search)

    @app.callback(Output("live", "data"), Output("case-cursor", "data"),
                  Input("tick", "n_intervals"), State("case-cursor", "data"))
    # The cursor: epoch ms of the newest case the browser holds (an hour before 0 while
    # Redis is empty).
    @accepts(count, integer())
    def _live(_n, cursor):
        doc = live_feed.read(cursor)
        doc["seq"] = seq.next()
        return doc, doc["case_cursor"]

    @app.callback(Output("positions", "data"), Output("positions-cursor", "data"),
                  Input("tick-positions", "n_intervals"), State("positions-cursor", "data"))
    @accepts(count, _EPOCH_CURSOR)
    def _positions(_n, cursor):
        doc = feed.delta(cursor)
        return doc, doc["cursor"]

    @app.callback(Output("coverage", "data"), Output("coverage-cursor", "data"),
                  Input("tick-positions", "n_intervals"), Input("map-mode", "value"),
                  State("coverage-cursor", "data"))
    @accepts(count, choice(v for v, _ in MAP_MODES), _FILL_CURSOR)
    def _coverage(_n, mode, cursor):
        # Nothing travels while the grids show outlines only, or when nothing changed.
        if mode not in FILL_MODES:
            return no_update, no_update
        doc = coverage.delta(mode, cursor)
        if doc is None:
            return no_update, no_update
        return doc, doc["cursor"]

    @app.callback(Output("side", "data"), Input("tick-positions", "n_intervals"))
    @accepts(count)
    def _side(_n):
        # The overdue board and the alerts summary: every few seconds, off the 1 s tick.
        return feeds.read()

    @app.callback(Output("heat", "data"), Output("heat-cursor", "data"),
                  Input("tick-positions", "n_intervals"), Input("map-heat", "value"),
                  State("heat-cursor", "data"))
    @accepts(count, subset(["hex"]), _EPOCH_CURSOR)
    def _heat(_n, on, cursor):
        # Today's new cases per grid, only while the hexagons are on and when they changed.
        if not on:
            return no_update, no_update
        doc = heat.delta(cursor)
        if doc is None:
            return no_update, no_update
        return doc, doc["cursor"]

    @app.callback(Output("spot", "data"), Input("tick-spotlight", "n_intervals"),
                  State("tick-spotlight", "disabled"))
    @accepts(count, flag)
    def _spot(n, disabled):
        # The playlist: the next district and its figures, every dwell seconds.
        if disabled:
            return no_update
        i = (n or 0) % len(districts)
        code = districts[i]
        try:
            fresh = view.freshness(limits)
            if not fresh.has(CASE) or fresh.state in (REBUILDING, EMPTY):
                # Nothing whole to read: the card names the district without figures.
                return {"i": i, "code": code, "open": None, "overdue": None, "new": None, "hour": None,
                        "wm": 0}
            k = view.kpis(code)
        except UNREACHABLE:
            return no_update
        return {"i": i, "code": code, "open": k.open, "overdue": k.overdue,
                "new": k.new_today, "hour": k.new_last_hour, "wm": k.watermark}

    app.clientside_callback(
        ClientsideFunction("gridpulse", "sidePanels"),
        Output("overdue-board", "children"), Output("alerts-open", "children"),
        Output("alerts-list", "children"),
        Input("side", "data"), State("live", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "spotlight"),
        Output("spotlight", "className"), Output("sp-name", "children"),
        Output("sp-open", "children"), Output("sp-overdue", "children"),
        Output("sp-new", "children"), Output("sp-hour", "children"),
        Input("spot", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "panels"),
        # One output per tile, then per sub-figure, in layout order (wall.js reads the same).
        *[Output(t.el_id, "children") for t in TILES],
        *[Output(s.el_id, "children") for s in SUBS],
        Output("clock-time", "children"), Output("clock-date", "children"),
        Output("trend", "figure"), Output("ticker", "children"), Output("district-rank", "children"),
        Input("live", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "deck"),
        Output("map-base", "data"), Output("map", "data"), Output("coverage-legend", "className"),
        Input("live", "data"), Input("positions", "data"), Input("coverage", "data"),
        Input("map-mode", "value"), Input("heat", "data"), Input("map-heat", "value"),
        Input("spot", "data"), State("deck-base", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "deadCount"),
        Output("dead-num", "children"), Output("dead-count", "className"),
        Input("live", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "indicator"),
        Output("live-indicator", "className"), Output("live-text", "children"),
        Output("wall-body", "className"), Output("data-asof", "children"),
        Input("tick", "n_intervals"), Input("live", "data"), State("interval-ms", "data"),
        State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "openWorker"),
        Output("nav", "data"), Input("map", "clickInfo"), prevent_initial_call=True)

    # The replay page (replay.py): frames and play/pause, all in the browser.
    app.clientside_callback(
        ClientsideFunction("replay", "frame"),
        Output("replay-map", "data"), Output("replay-time", "children"),
        Input("replay-slider", "value"), State("replay-data", "data"))
    app.clientside_callback(
        ClientsideFunction("replay", "play"),
        Output("replay-tick", "disabled"), Output("replay-play", "children"),
        Output("replay-slider", "value"),
        Input("replay-play", "n_clicks"), Input("replay-tick", "n_intervals"),
        State("replay-tick", "disabled"), State("replay-slider", "value"),
        State("replay-speed", "value"), State("replay-data", "data"), prevent_initial_call=True)
