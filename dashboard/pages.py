"""The pages of the app, chosen by URL: the wall, a worker's day, a grid's workers.

Dash serves its page for every path; ``dcc.Location`` hands the path to :meth:`Pages.render`
(a server callback, callbacks.py), which returns the page's component tree:

- ``/`` and ``/wall``: the wall display (layout.py);
- ``/worker/<worker>[?day=YYYY-MM-DD]``, ``/terminal/<terminal>[?day=...]``: the day
  replay of a grid worker or a terminal (replay.py); the day defaults to the GPS clock's;
- ``/grid/<grid code>/workers[?day=...]``: the terminals seen in that grid that day, with
  their figures and a link to each replay.

Other modules add their pages with :meth:`Pages.add_route`. Anything else gets a small
"not found" page naming what was not found.
"""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import parse_qs, unquote

from dash import html

from gridpulse.city import CityModel
from gridpulse.clock import fmt_local
from gridpulse.freshness import GPS
from gridpulse.visit_views import VisitView

from . import replay
from .texts import lang_of, ui, with_lang
from .visits import day_date, gps_day, hmm, km, parse_date

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as the API's worker and terminal ids
_ROUTES = (
    (re.compile(r"^/worker/([^/]+)/?$"), "worker"),
    (re.compile(r"^/terminal/([^/]+)/?$"), "terminal"),
    (re.compile(r"^/grid/([^/]+)/workers/?$"), "grid"),
)


class Pages:
    """Renders a page for a path; holds what the pages read (city, visits, the wall)."""

    def __init__(self, city: CityModel, visits: VisitView, tz: str, version: str,
                 wall, gap_ms: int) -> None:
        self.city, self.visits, self.tz, self.version = city, visits, tz, version
        self.wall, self.gap_ms = wall, gap_ms
        self._extra: list[tuple[re.Pattern, Callable]] = []

    def add_route(self, pattern: str, handler: Callable) -> None:
        """Serve paths matching ``pattern`` (a regex) with ``handler(match, query)``, where
        ``query`` is the parsed query string (``{name: [values]}``); checked before the
        built-in routes, in the order added."""
        self._extra.append((re.compile(pattern), handler))

    def render(self, path: str | None, search: str | None):
        path = path or "/"
        query = parse_qs((search or "").lstrip("?"))
        for rx, handler in self._extra:
            m = rx.match(path)
            if m:
                return handler(m, query)
        if path in ("/", "", "/wall", "/wall/"):
            return self.wall
        day_text = (query.get("day") or [None])[0]
        lang = lang_of(query)
        for rx, kind in _ROUTES:
            m = rx.match(path)
            if m:
                return self._page(kind, unquote(m.group(1)), day_text, lang)
        return self._message(ui(lang)["nf_page"].format(path=path), lang)

    def _day(self, text: str | None, T: dict) -> int | str:
        """The day asked for, the GPS clock's day if none, or the message saying why not
        (no GPS views to read: "no data", not a day without anyone)."""
        if not self.visits.live.freshness().has(GPS):
            return T["nf_no_data"]
        if text is None:
            day = gps_day(self.visits, self.tz)
            return T["nf_no_data"] if day is None else day
        day = parse_date(text)
        return T["bad_date"].format(date=text) if day is None else day

    def _page(self, kind: str, ident: str, day_text: str | None, lang: str = "zh"):
        T = ui(lang)
        if kind == "grid":
            return self.grid_workers(ident, day_text, lang)
        if not _ID.match(ident):
            return self._message(T["bad_id"].format(what=T[f"r_{kind}"], id=ident), lang)
        day = self._day(day_text, T)
        if isinstance(day, str):
            return self._message(day, lang)
        terminal = ident if kind == "terminal" else self.visits.terminal_of(ident, day)
        track = self.visits.track(terminal, day) if terminal else None
        if track is None:
            return self._message(T["nf_track"].format(what=T[f"r_{kind}"], id=ident,
                                                      date=day_date(day)), lang)
        return replay.page(self.city, self.version, track, self.tz, self.gap_ms,
                           self._city_name(lang), lang)

    def grid_workers(self, grid: str, day_text: str | None, lang: str = "zh"):
        """The grid's terminals on a day, each with a link to its replay."""
        T = ui(lang)
        try:
            area = self.city.grid(grid)
        except KeyError:
            return self._message(T["nf_grid"].format(grid=grid), lang)
        day = self._day(day_text, T)
        if isinstance(day, str):
            return self._message(day, lang)
        date = day_date(day)
        rows = sorted((s for s in self.visits.days(day).values() if s["grid"] == grid),
                      key=lambda s: s["terminal"])
        head = [T["r_worker"], T["r_terminal"], T["r_first"], T["r_last"], T["r_dist_km"],
                T["r_duty"], T["r_visits"], ""]
        body = [html.Tr(className="wk-row", children=[
            html.Td(s["worker"]), html.Td(s["terminal"]),
            html.Td(fmt_local(s["first"], self.tz, "%H:%M:%S")),
            html.Td(fmt_local(s["last"], self.tz, "%H:%M:%S")),
            html.Td(km(s["dist_m"]), className="num"), html.Td(hmm(s["duty_ms"]), className="num"),
            html.Td(str(s["visits"]), className="num"),
            html.Td(html.A(T["replay_link"], href=with_lang(f"/worker/{s['worker']}?day={date}", lang),
                           className="nav-link")),
        ]) for s in rows]
        table = html.Table(id="grid-workers", className="wk-table", children=[
            html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)])
        return self._frame(f"{area.name} · {date}", T["workers_title"], [
            html.Div(T["workers_count"].format(n=len(rows)), className="wk-count"),
            table if rows else html.Div(T["no_workers"], className="empty")], lang)

    def unreachable(self, path: str | None, search: str | None):
        """The page shown instead of one that could not be built because Redis does not
        answer: says so, with a link to try again."""
        lang = lang_of(parse_qs((search or "").lstrip("?")))
        T = ui(lang)
        again = (path or "/") + (search or "")
        return self._frame("", T["title"], [
            html.Div(T["st_page_unreachable"], id="page-message", className="page-message"),
            html.A(T["st_retry"], href=again, id="page-retry", className="nav-link")], lang)

    def _city_name(self, lang: str) -> str:
        return (self.city.name_en or self.city.name) if lang == "en" else self.city.name

    def _frame(self, who: str, title: str, children: list, lang: str = "zh") -> html.Div:
        return html.Div(className="plain", children=[
            html.Header(className="topbar", children=[
                html.Div(className="brand", children=[
                    html.Span(className="brand-mark"),
                    html.Span(self._city_name(lang), className="brand-city"),
                    html.Span(title, className="brand-title"),
                ]),
                html.Div(who, className="replay-who who-where"),
                html.Nav(className="replay-nav", children=[
                    html.A(ui(lang)["nav_wall"], href=with_lang("/wall", lang), className="nav-link")]),
            ]),
            html.Main(className="plain-body", children=children),
        ])

    def _message(self, text: str, lang: str = "zh") -> html.Div:
        return self._frame("", ui(lang)["replay_title"], [html.Div(text, id="page-message",
                                                                   className="page-message")], lang)
