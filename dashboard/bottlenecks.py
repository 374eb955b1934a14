"""Where time is lost: ``/bottlenecks[?area=<city or district code>]``.

Per stage (LiveView.stage_times: median / p90 minutes and count of the stages that
ended today, with the open cases waiting in it now) and per department
(LiveView.departments: open, overdue, handled today, handling time, 7-day on-time rate
and score), each sorted worst first with a bar. Data: :func:`drill_data.bottlenecks`;
a ``dcc.Interval`` refreshes the two tables only.
"""

from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from gridpulse.city import CityModel
from gridpulse.clock import now_ms
from gridpulse.views import UNREACHABLE, LiveView

from . import drill_data
from .checks import accepts, area_code, count, lang, record
from .drill_common import BODY, REFRESH_MS, T, dept_name, fmt_rate, frame, lang_of, message, with_lang
from .freshness_ui import holds, page_status, read_fresh, status_outputs

STAGE_KEYS = {"register": "d_st_register", "dispatch": "d_st_dispatch", "accept": "d_st_accept",
              "handle": "d_st_handle", "verify": "d_st_verify", "close": "d_st_close",
              "evaluate": "d_st_evaluate"}


def _mins(x) -> str:
    return "—" if x is None else str(x)


def _bar(value: float | None, top: float, cls: str = "") -> html.Span:
    w = 0 if not top or value is None else 100 * value / top
    return html.Span(className="b-bar", children=html.Span(className=f"b-fill {cls}", style={"width": f"{w:.1f}%"}))


def stage_rows(doc: dict, lang: str) -> list:
    top = max([r["p90_min"] or 0 for r in doc["stages"]] + [1])
    return [html.Tr(className="b-stage", children=[
        html.Td(T(STAGE_KEYS.get(r["stage"], r["stage"]), lang)),
        html.Td(_bar(r["p90_min"] or 0, top, "p90")),
        html.Td(_mins(r["median_min"]), className="num", id=f"b-stage-{r['stage']}-median"),
        html.Td(_mins(r["p90_min"]), className="num", id=f"b-stage-{r['stage']}-p90"),
        html.Td(_mins(r["count"]), className="num", id=f"b-stage-{r['stage']}-count"),
        html.Td(_mins(r["waiting"]), className="num", id=f"b-stage-{r['stage']}-waiting"),
    ]) for r in doc["stages"]]


def dept_rows(doc: dict, lang: str) -> list:
    top = max([r["overdue"] or 0 for r in doc["departments"]] + [1])
    return [html.Tr(className="b-dept", children=[
        html.Td(dept_name(r["dept"], lang)),
        html.Td(_bar(r["overdue"], top, "overdue")),
        html.Td(_mins(r["open"]), className="num", id=f"b-dept-{r['dept']}-open"),
        html.Td(_mins(r["overdue"]), className="num", id=f"b-dept-{r['dept']}-overdue"),
        html.Td(_mins(r["handled_today"]), className="num", id=f"b-dept-{r['dept']}-handled"),
        html.Td(_mins(r["handle_median_min"]), className="num"),
        html.Td(_mins(r["handle_p90_min"]), className="num"),
        html.Td(fmt_rate(r["on_time_rate"]), className="num"),
        html.Td("—" if r["score"] is None else f"{r['score']:.1f}", className="num",
                id=f"b-dept-{r['dept']}-score"),
    ]) for r in doc["departments"]]


def _table_panel(title: str, head: list[str], rows: list, body_id: str, lang: str) -> html.Div:
    """A titled panel holding one table: header labels (text keys, "" for none) and rows."""
    return html.Div(className="panel b-panel", children=[
        html.Div(className="panel-title", children=[html.Span(className="panel-mark"), title]),
        html.Table(className="d-table b-table", children=[
            html.Thead(html.Tr([html.Th(T(h, lang) if h else "") for h in head])),
            html.Tbody(rows, id=body_id)])])


def page(city: CityModel, view: LiveView, query: dict, watch=None) -> html.Div:
    lang = lang_of(query)
    code = (query.get("area") or [city.code])[0] or city.code
    try:
        doc = drill_data.bottlenecks(city, view, code, watch.fresh() if watch is not None else None)
    except KeyError:
        return message(city, T("d_unknown", lang).format(code=code), lang)
    except drill_data.FilterError as err:
        return message(city, err.message, lang)
    areas = [(city.code, city.name)] + [(d.code, d.name) for d in city.districts]
    picker = html.Nav(className="b-areas", children=[
        html.A(name, href=with_lang(f"/bottlenecks?area={c}", lang), id=f"b-area-{c}",
               className="b-area" + (" here" if c == code else "")) for c, name in areas])
    stage_head = ["d_stage", "", "d_median", "d_p90", "d_count", "d_waiting"]
    dept_head = ["d_dept", "", "d_open", "d_overdue", "d_handled_today", "d_median", "d_p90",
                 "d_on_time_7d", "d_score"]
    body = [
        picker,
        html.Div(className="b-body", children=[
            _table_panel(T("d_by_stage", lang), stage_head, stage_rows(doc, lang), "b-stages", lang),
            _table_panel(T("d_by_dept", lang), dept_head, dept_rows(doc, lang), "b-depts", lang),
        ]),
        dcc.Store(id="b-area", data={"code": code, "lang": lang}),
        dcc.Interval(id="b-tick", interval=REFRESH_MS),
    ]
    crumb = html.Nav(className="d-crumbs", children=[html.Span(doc["name"], className="d-crumb here")])
    extra = [] if code == city.code else [
        html.A(doc["name"], href=with_lang(f"/district/{code}", lang), className="nav-link")]
    return frame(city, T("d_bottlenecks", lang), crumb, body, lang, extra, cls="drill-bottlenecks",
                 status=True)


def register(app: Dash, pages, view: LiveView, city: CityModel, settings, watch) -> None:
    """The ``/bottlenecks`` route and its refresh; ``watch`` (api.RedisWatch) judges the
    views' freshness for its title bar."""
    tz = settings.timezone
    pages.add_route(r"^/bottlenecks/?$", lambda m, q: page(city, view, q, watch))

    @app.callback(Output("b-stages", "children"), Output("b-depts", "children"), *status_outputs("d"),
                  Input("b-tick", "n_intervals"), State("b-area", "data"), prevent_initial_call=True)
    @accepts(count, record(("code",), code=area_code(city, ("city", "district")), lang=lang))
    def _refresh(_n, data):
        if not data:
            return (no_update,) * 6
        lang = data.get("lang", "zh")
        fresh = read_fresh(watch)
        if holds(fresh):
            return no_update, no_update, *page_status(fresh, now_ms(), tz, lang, BODY)
        try:
            doc = drill_data.bottlenecks(city, view, data["code"], fresh)
        except UNREACHABLE:
            return no_update, no_update, *page_status(None, now_ms(), tz, lang, BODY)
        return stage_rows(doc, lang), dept_rows(doc, lang), *page_status(fresh, now_ms(), tz, lang, BODY)
