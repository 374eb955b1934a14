"""Alerts on screen: the page ``/alerts[?area=&status=&kind=&lang=en]`` and its wiring.

The page lists AlertBoard.latest (newest first) with each alert's status and
acknowledgements, refreshed every ``REFRESH_MS`` by a server callback (only the table
changes); a filter the board does not know gets a message naming it instead.
"Acknowledge" asks who (name/post) and an optional comment and POSTs
``/api/alerts/<id>/ack`` (api_alerts.py; the browser side is in assets/wall.js); the
acknowledgement goes through Kafka and the worker onto the board, so every open page
shows it on its next refresh. The wall's compact alerts panel is fed by live.py.
:func:`register` adds the page route, its callback, the wall's variants (layout.Walls)
and the alerts API.
"""

from __future__ import annotations

import re

from dash import Dash, Input, Output, State, dcc, html, no_update

from gridpulse.alert_views import AlertBoard
from gridpulse.city import CityModel
from gridpulse.clock import fmt_local, now_ms
from gridpulse.settings import Settings
from gridpulse.views import UNREACHABLE

from . import api_alerts, api_notify, notify_ui
from .ack_sink import AckSink
from .api import ApiError, RedisWatch
from .checks import accepts, area_code, choice, count, lang, matches, record
from .freshness_ui import badge, page_status, read_fresh, status_outputs
from .live import alert_subject
from .texts import lang_of, ui

REFRESH_MS = 2000
ROWS = 100
PATH = r"^/alerts/?$"


def _area_name(city: CityModel, code: str | None, lang: str) -> str:
    if not code:
        return ""
    try:
        a = city.area(code)
    except KeyError:
        return code
    return (getattr(a, "name_en", "") or a.name) if lang == "en" else a.name


def table(alerts: list[dict], city: CityModel, tz: str, lang: str, notes: dict | None = None) -> html.Table:
    """The alerts as table rows: time, kind, area, subject, status, acks, action (and, given
    ``notes``, the notifications that carried each alert: notify_ui.py)."""
    T = ui(lang)
    head = [T["a_time"], T["a_kind"], T["a_area"], T["a_subject"], T["a_status"], T["a_acks"],
            T["a_action"]] + ([notify_ui.words(lang)["notes"]] if notes is not None else [])
    rows = []
    for a in alerts:
        acks = [html.Div(className="ack-item", children=[
            html.Span(k["by"], className="ack-by"),
            html.Span(f" · {fmt_local(k['at'], tz, '%H:%M')}", className="ack-at"),
            html.Span(f" · {k['comment']}" if k.get("comment") else "", className="ack-comment")])
            for k in a["acks"]]
        action = (html.Button(T["a_ack"], className="ack-btn ack-open", **{"data-alert": a["id"]})
                  if a["status"] != "resolved" else "")
        area = a.get("grid") or a.get("district")
        rows.append(html.Tr(className=f"al-tr al-{a['status']}", id={"type": "alert-row", "id": a["id"]},
                            **{"data-alert": a["id"], "data-status": a["status"]}, children=[
            html.Td(fmt_local(a["ts"], tz, "%m-%d %H:%M:%S"), className="num"),
            html.Td(T.get(f"k_{a['kind']}", a["kind"])),
            html.Td(" / ".join(x for x in (_area_name(city, a.get("district"), lang),
                                           _area_name(city, area, lang) if area != a.get("district") else "")
                               if x)),
            html.Td(alert_subject(a), className="al-subject-cell"),
            html.Td(html.Span(T[f"st_{a['status']}"], className=f"al-st al-st-{a['status']}")),
            html.Td(acks, className="al-acks"),
            html.Td(action),
        ] + ([html.Td(notify_ui.cell(notes.get(a["id"], []), tz, lang), className="al-notes")]
             if notes is not None else [])))
    return html.Table(className="al-table wk-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)])


BODY = "plain-body al-page"


def no_data(lang: str) -> html.Div:
    """The table's place while there are no case views to read: no board, not an empty one."""
    return html.Div(ui(lang)["no_data"], id="alerts-none", className="empty")


class AlertsPage:
    """The ``/alerts`` page and the refresh of its table."""

    def __init__(self, board: AlertBoard, city: CityModel, tz: str, watch: RedisWatch | None = None) -> None:
        self.board, self.city, self.tz, self.watch = board, city, tz, watch

    def filters(self, query: dict) -> dict:
        """The filters of the page's URL ``query``, checked as ``/api/alerts`` checks them
        (:class:`ApiError` naming a bad one), as the page's store keeps them."""
        one = lambda k: (query.get(k) or [None])[0] or None  # noqa: E731
        f = api_alerts.filters(self.city, {k: one(k) for k in ("area", "status", "kind")})
        return {"area": f["area"], "status": f["status"],
                "kind": ",".join(sorted(f["kinds"])) if f["kinds"] else None, "lang": lang_of(query)}

    def store_check(self):
        """What the refresh accepts as the page's store: what :meth:`filters` writes."""
        kind = "(?:%s)" % "|".join(re.escape(k) for k in api_alerts.KINDS)
        return record(area=area_code(self.city), status=choice(api_alerts.STATUSES),
                      kind=matches(f"{kind}(?:,{kind})*", "alert kinds, comma-separated"), lang=lang)

    def rows(self, f: dict) -> list[dict]:
        kinds = {k for k in (f.get("kind") or "").split(",") if k} or None
        return self.board.latest(ROWS, area=f.get("area"), kinds=kinds, status=f.get("status"))

    def notes(self, rows: list[dict]) -> dict:
        """The notifications of the alerts shown (notify_ui.py)."""
        return notify_ui.notes_by_alert(self.board.r, self.board.k, [a["id"] for a in rows])

    def _header(self, lang: str, status: bool = False) -> html.Header:
        T = ui(lang)
        wall_href = "/?lang=en" if lang == "en" else "/"
        city = (self.city.name_en or self.city.name) if lang == "en" else self.city.name
        return html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Span(className="brand-mark"),
                html.Span(city, className="brand-city"),
                html.Span(T["alerts_title"], className="brand-title")]),
            *([badge(lang, "al")] if status else []),
            html.Nav(className="replay-nav", children=[
                html.A(T["nav_wall"], href=wall_href, className="nav-link")]),
        ])

    def content(self, f: dict, lang: str):
        """The table of the alerts ``f`` selects, or :func:`no_data` without case views."""
        fresh = self.watch.fresh() if self.watch is not None else None
        if fresh is not None and not self.board.known(fresh):
            return no_data(lang), None
        rows = self.rows(f)
        return table(rows, self.city, self.tz, lang, self.notes(rows)), len(rows)

    def page(self, _match, query: dict) -> html.Div:
        lang = lang_of(query)
        html_lang = "en" if lang == "en" else "zh-CN"
        try:
            f = self.filters(query)
        except ApiError as err:  # a filter the board does not know: say which
            return html.Div(className="plain al-page-root", lang=html_lang, children=[
                self._header(lang),
                html.Main(className="plain-body al-page", children=[html.Div(
                    ui(lang)["a_bad_filter"].format(field=err.field, error=err.message),
                    id="page-message", className="page-message")])])
        T = ui(lang)
        shown = ", ".join(f"{k}={v}" for k, v in f.items() if v and k != "lang") or T["a_all"]
        content, _ = self.content(f, lang)
        return html.Div(className="plain al-page-root", lang=html_lang, children=[
            self._header(lang, status=True),
            html.Main(id="al-body", className=BODY, children=[
                html.Div(className="al-bar", children=[
                    html.Span(T["a_filter"].format(f=shown), className="al-filter"),
                    html.Span("", id="alerts-count", className="al-count"),
                    html.Span("", id="ack-note", className="ack-note")]),
                html.Div(id="alerts-table", children=content),
                notify_ui.panel(self.board.r, self.board.k, self.tz, lang),
            ]),
            html.Div(id="ack-dialog", className="ack-dialog hidden",
                     **{"data-need-by": T["a_need_by"], "data-sent": T["a_sent"]}, children=[
                html.Div(className="ack-box", children=[
                    html.Div(T["a_ack"], className="panel-title"),
                    html.Div("", id="ack-target", className="ack-target"),
                    html.Label(T["a_by"]),
                    dcc.Input(id="ack-by", type="text", maxLength=64, autoComplete="name"),
                    html.Label(T["a_comment"]),
                    dcc.Textarea(id="ack-comment", maxLength=500, rows=3),
                    html.Div("", id="ack-error", className="ack-msg"),
                    html.Div(className="ack-actions", children=[
                        html.Button(T["a_cancel"], id="ack-cancel", className="ack-btn ghost"),
                        html.Button(T["a_send"], id="ack-send", className="ack-btn primary")]),
                ])]),
            dcc.Store(id="alerts-filter", data=f),
            dcc.Interval(id="alerts-tick", interval=REFRESH_MS),
        ])


def register(app: Dash, pages, view, city: CityModel, settings: Settings, walls=None,
             watch: RedisWatch | None = None) -> AckSink:
    """Wire the alerts page (route and refresh), the wall's variants and the alerts API."""
    board = AlertBoard(view.r, view.k)
    watch = watch or RedisWatch(view)
    page = AlertsPage(board, city, settings.timezone, watch)
    if walls is not None:
        walls.register(pages)
    pages.add_route(PATH, page.page)

    @app.callback(Output("alerts-table", "children"), Output("alerts-count", "children"),
                  *status_outputs("al"),
                  Input("alerts-tick", "n_intervals"), State("alerts-filter", "data"),
                  prevent_initial_call=True)
    @accepts(count, page.store_check())
    def _refresh(_n, f):
        f = f or {}
        lang = f.get("lang") or "zh"
        fresh = read_fresh(watch)
        try:
            content, n = page.content(f, lang) if fresh is not None else (None, None)
        except UNREACHABLE:
            fresh = None
        status = page_status(fresh, now_ms(), settings.timezone, lang, BODY, held=n is None)
        if n is None:
            # Redis away, or no board to read (flushed, rebuilding): the table shown stays.
            return no_update, no_update, *status
        return content, ui(lang)["a_count"].format(n=n), *status

    sink = AckSink(settings)
    api_alerts.register(app.server, board, city, sink, watch)
    # The notifier's silences and log (issue 12): API and the page's panel.
    from .notify_sink import SilenceSink
    silences = SilenceSink(settings, view.r)
    api_notify.register(app.server, view.r, view.k, silences)
    notify_ui.register(app, view.r, view.k, silences, settings.timezone)
    return sink
