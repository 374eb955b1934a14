"""Dash callbacks: two thin server adapters over Redis, three clientside renderers.

Server side (one Redis read each, no rendering): the 1-second live payload and the
slower worker-position delta. Browser side (assets/wall.js): tiles/trend/ticker/ranking,
the deck document and the live indicator.
"""

from __future__ import annotations

import itertools
import logging
import threading

from dash import ClientsideFunction, Dash, Input, Output, State

from gridpulse.city import CityModel
from gridpulse.views import LiveView

from . import live
from .layout import TILES
from .positions import PositionFeed

log = logging.getLogger(__name__)


class _Seq:
    """Process-wide payload sequence numbers, so the browser merges each payload once."""

    def __init__(self) -> None:
        self._it = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._it)


def register(app: Dash, view: LiveView, city: CityModel, feed: PositionFeed, tz: str) -> None:
    """Wire every callback of the wall onto ``app``."""
    seq = _Seq()

    @app.callback(Output("live", "data"), Output("case-cursor", "data"),
                  Input("tick", "n_intervals"), State("case-cursor", "data"))
    def _live(_n, cursor):
        doc = live.payload(view, city, feed, tz, cursor)
        doc["seq"] = seq.next()
        return doc, doc["case_cursor"]

    @app.callback(Output("positions", "data"), Output("positions-cursor", "data"),
                  Input("tick-positions", "n_intervals"), State("positions-cursor", "data"))
    def _positions(_n, cursor):
        doc = feed.delta(cursor)
        return doc, doc["cursor"]

    app.clientside_callback(
        ClientsideFunction("gridpulse", "panels"),
        # One output per tile, in layout.TILES order (wall.js reads the same order).
        *[Output(t.el_id, "children") for t in TILES],
        Output("clock-time", "children"), Output("clock-date", "children"),
        Output("trend", "figure"), Output("ticker", "children"), Output("district-rank", "children"),
        Input("live", "data"), State("texts", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "deck"),
        Output("map", "data"),
        Input("live", "data"), Input("positions", "data"), State("deck-base", "data"))
    app.clientside_callback(
        ClientsideFunction("gridpulse", "indicator"),
        Output("live-indicator", "className"), Output("live-text", "children"),
        Input("tick", "n_intervals"), State("interval-ms", "data"), State("texts", "data"))
