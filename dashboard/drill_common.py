"""What every drill-down page shares: its labels in two languages, the names of
stages, categories, departments and severities, the number formats, the links between
pages and the page frame (brand, breadcrumbs, nav).

Used by the area pages (drill.py), the case page (case_page.py) and the bottlenecks
page (bottlenecks.py).
"""

from __future__ import annotations

from dash import html

from gridpulse.catalog import CATEGORIES, DEPARTMENTS, SEVERITIES
from gridpulse.city import CityModel

from .freshness_ui import badge
from .texts import EN, STAGES_EN, STAGES_ZH, ZH
from .texts import lang_of as _lang_of
from .texts import with_lang

REFRESH_MS = 5000  # figures of a drill-down page: every few seconds
LEVEL_PATH = {"district": "district", "town": "town", "community": "community", "grid": "grid"}

# The drill-down's own labels (``d_`` keys); texts.ZH / texts.EN win when they carry a
# key (the labels shared with the wall: tiles, stages, nav...).
D_ZH = {
    "d_title": "区域下钻", "d_closed_today": "今日办结", "d_coverage_30d": "30日走访覆盖",
    "d_silent_grids": "静默网格", "d_children": "下级区域", "d_cases": "在办事件",
    "d_name": "名称", "d_open": "在办", "d_overdue": "超期", "d_new_today": "今日新增",
    "d_closed": "今日办结", "d_on_time": "按期率", "d_workers": "在线网格员", "d_coverage": "覆盖率",
    "d_silent": "静默网格", "d_case": "事件", "d_category": "类别", "d_severity": "等级",
    "d_stage": "阶段", "d_dept": "承办部门", "d_grid": "网格", "d_reported": "上报时间",
    "d_late": "超期/剩余", "d_due": "剩余", "d_all_categories": "全部类别", "d_all_depts": "全部部门",
    "d_all_stages": "全部阶段", "d_all_overdue": "是否超期", "d_only_overdue": "仅超期",
    "d_not_overdue": "未超期", "d_total": "共 {n} 件", "d_shown": "显示前 {n} 件",
    "d_color_by": "着色", "d_no_cases": "暂无在办事件", "d_unknown": "区域不存在：{code}",
    "d_wrong_level": "{code} 是{actual}，不是{level}", "d_bottlenecks": "堵点分析",
    "d_workers_day": "{date} 本网格网格员", "d_no_workers": "当日该网格无定位记录",
    "d_level_city": "市", "d_level_district": "区县（市）", "d_level_town": "街道（乡镇）",
    "d_level_community": "社区（村）", "d_level_grid": "网格", "d_updated": "数据时间", "d_none": "—",
    # the case page
    "d_bad_case": "事件编号无效：{case}", "d_unknown_case": "事件不存在：{case}",
    "d_to_worker_day": "上报人当日轨迹", "d_to_grid": "所属网格", "d_to_district": "所属区县", "d_case_facts": "事件概况",
    "d_position": "事发位置", "d_timeline": "全程留痕", "d_clocks": "时限（SLA）",
    "d_alerts": "触发预警", "d_no_alerts": "未触发预警", "d_no_clocks": "暂无计时",
    "d_clock": "环节", "d_start": "起算", "d_deadline": "时限", "d_stop": "完成", "d_elapsed": "用时",
    "d_status": "状态", "d_clock_dispatch": "派遣", "d_clock_handle": "处置", "d_clock_verify": "核查",
    "d_status_ok": "计时中", "d_status_warning": "临期", "d_status_overdue": "已超期",
    "d_status_met": "按期完成", "d_status_missed": "超期完成",
    "d_alert_warning": "临期预警", "d_alert_overdue": "超期", "d_alert_escalation": "督办升级",
    "d_alert_likely_breach": "可能超期", "d_alert_resolved": "已解除",
    "d_state": "状态", "d_open_yes": "在办", "d_open_no": "已办结", "d_level": "督办级别",
    "d_reporter": "上报人", "d_events": "环节数", "d_satisfaction": "满意度", "d_who": "经办",
    "d_where": "位置",
    # the bottleneck page
    "d_by_stage": "各环节用时（今日完成，分钟）", "d_by_dept": "各部门办理情况", "d_median": "中位数",
    "d_p90": "P90", "d_count": "完成数", "d_waiting": "当前滞留", "d_handled_today": "今日办结",
    "d_on_time_7d": "7日按期率", "d_score": "7日评分", "d_st_register": "立案", "d_st_dispatch": "派遣",
    "d_st_accept": "受理", "d_st_handle": "处置", "d_st_verify": "核查", "d_st_close": "结案",
    "d_st_evaluate": "评价",
}
D_EN = {
    "d_title": "Drill-down", "d_closed_today": "Closed today", "d_coverage_30d": "Coverage 30d",
    "d_silent_grids": "Silent grids", "d_children": "Areas below", "d_cases": "Open cases",
    "d_name": "Name", "d_open": "Open", "d_overdue": "Overdue", "d_new_today": "New",
    "d_closed": "Closed", "d_on_time": "On time", "d_workers": "Workers", "d_coverage": "Coverage",
    "d_silent": "Silent", "d_case": "Case", "d_category": "Category", "d_severity": "Severity",
    "d_stage": "Stage", "d_dept": "Department", "d_grid": "Grid", "d_reported": "Reported",
    "d_late": "Late / due", "d_due": "Due in", "d_all_categories": "All categories",
    "d_all_depts": "All departments", "d_all_stages": "All stages", "d_all_overdue": "Overdue or not",
    "d_only_overdue": "Overdue", "d_not_overdue": "Not overdue", "d_total": "{n} cases",
    "d_shown": "first {n} shown", "d_color_by": "Colour by", "d_no_cases": "No open case",
    "d_unknown": "No such area: {code}", "d_wrong_level": "{code} is a {actual}, not a {level}",
    "d_bottlenecks": "Bottlenecks", "d_workers_day": "Workers of {date}",
    "d_no_workers": "No worker seen in this grid that day", "d_level_city": "city",
    "d_level_district": "district", "d_level_town": "town", "d_level_community": "community",
    "d_level_grid": "grid", "d_updated": "as of",
    "d_bad_case": "Not a case id: {case}", "d_unknown_case": "No such case: {case}",
    "d_to_worker_day": "Reporter's day", "d_to_grid": "Grid", "d_to_district": "District", "d_case_facts": "Case",
    "d_position": "Position", "d_timeline": "Timeline", "d_clocks": "SLA clocks",
    "d_alerts": "Alerts raised", "d_no_alerts": "No alert", "d_no_clocks": "No clock yet",
    "d_clock": "Clock", "d_start": "Start", "d_deadline": "Deadline", "d_stop": "Stopped",
    "d_elapsed": "Elapsed", "d_status": "Status", "d_clock_dispatch": "Dispatch",
    "d_clock_handle": "Handle", "d_clock_verify": "Verify", "d_status_ok": "running",
    "d_status_warning": "warning", "d_status_overdue": "overdue", "d_status_met": "met",
    "d_status_missed": "missed", "d_alert_warning": "Deadline near", "d_alert_overdue": "Overdue",
    "d_alert_escalation": "Escalation", "d_alert_likely_breach": "Likely breach",
    "d_alert_resolved": "Resolved", "d_state": "State", "d_open_yes": "open",
    "d_open_no": "closed", "d_level": "Escalation level", "d_reporter": "Reporter",
    "d_events": "Steps", "d_satisfaction": "Satisfaction", "d_who": "By", "d_where": "At",
    "d_by_stage": "Stage times (ended today, minutes)", "d_by_dept": "Departments",
    "d_median": "Median", "d_p90": "P90", "d_count": "Count", "d_waiting": "Waiting now",
    "d_handled_today": "Closed today", "d_on_time_7d": "On time 7d", "d_score": "Score 7d",
    "d_st_register": "Register", "d_st_dispatch": "Dispatch", "d_st_accept": "Accept",
    "d_st_handle": "Handle", "d_st_verify": "Verify", "d_st_close": "Close",
    "d_st_evaluate": "Evaluate",
    # shared labels, in case texts.EN lacks them
    "r_worker": "Worker", "r_terminal": "Terminal", "r_first": "First fix", "r_last": "Last fix",
    "r_dist_km": "Distance (km)", "r_duty": "On duty", "r_visits": "Visits", "replay_link": "Replay",
    "tile_open": "Open", "tile_overdue": "Overdue", "tile_new_today": "New today",
    "tile_on_time_rate": "On-time rate", "tile_satisfaction_rate": "Satisfaction",
    "tile_active_workers": "Workers out", "nav_wall": "Wall",
}


def lang_of(query) -> str:
    """``en`` when the page was asked with ``?lang=en``, else ``zh`` (texts.lang_of)."""
    return _lang_of(query)


def T(key: str, lang: str = "zh") -> str:
    """The label ``key`` in ``lang``: texts.py's tables first, then the drill-down's own;
    English falls back to Chinese."""
    if lang == "en":
        for table in (EN, D_EN):
            if key in table:
                return table[key]
    for table in (ZH, D_ZH):
        if key in table:
            return table[key]
    return D_EN.get(key, key)


def stage_name(stage: str | None, lang: str) -> str:
    if not stage:
        return "—"
    if lang == "en":
        return STAGES_EN.get(stage, stage)
    return STAGES_ZH.get(stage, stage)


def category_name(code: str, lang: str) -> str:
    c = CATEGORIES.get(code)
    return code if c is None else ((c.name_en or c.name) if lang == "en" else c.name)


def dept_name(code: str | None, lang: str) -> str:
    if not code:
        return "—"
    d = DEPARTMENTS.get(code)
    return code if d is None else ((d.name_en or d.name) if lang == "en" else d.name)


def severity_name(sev: int, lang: str) -> str:
    s = SEVERITIES.get(sev)
    return str(sev) if s is None else s[1 if lang == "en" else 0]


def fmt_rate(x: float | None) -> str:
    """A share as the drill-down shows it: percent with one decimal; "—" for none."""
    return "—" if x is None else f"{x * 100:.1f}%"


def fmt_value(key: str, x) -> str:
    """A figure of the tiles or the children table as text."""
    if key in ("on_time_rate", "satisfaction_rate", "coverage_30d"):
        return fmt_rate(x)
    return "—" if x is None else str(x)


def fmt_dur(ms: int) -> str:
    """A duration as ``h:mm`` (``d天h:mm`` past a day)."""
    minutes = max(0, int(ms)) // 60_000
    days, minutes = divmod(minutes, 1440)
    text = f"{minutes // 60}:{minutes % 60:02d}"
    return f"{days}d {text}" if days else text


def area_href(level: str, code: str, lang: str = "zh") -> str:
    """The page of an area: the wall for the city, ``/<level>/<code>`` below."""
    base = "/wall" if level == "city" else f"/{LEVEL_PATH[level]}/{code}"
    return base + ("?lang=en" if lang == "en" else "")


# -- the page frame -----------------------------------------------------------------------
def crumbs(items: list[dict], lang: str, last_link: bool = False) -> html.Nav:
    """Breadcrumbs ``[{"code", "name", "level"}]``, city first; every item but the last a link."""
    out = []
    for i, b in enumerate(items):
        if i:
            out.append(html.Span("›", className="d-crumb-sep"))
        if i < len(items) - 1 or last_link:
            out.append(html.A(b["name"], href=area_href(b["level"], b["code"], lang),
                              id=f"d-crumb-{b['level']}", className="d-crumb"))
        else:
            out.append(html.Span(b["name"], id=f"d-crumb-{b['level']}", className="d-crumb here"))
    return html.Nav(out, id="d-crumbs", className="d-crumbs")


BODY = "d-body"  # the class (and, on a refreshed page, the id) of the pages' body


def frame(city: CityModel, title: str, crumb_nav, children: list, lang: str, extra_nav=(),
          cls: str = "", status: bool = False) -> html.Div:
    """The drill-down pages' common frame: brand, breadcrumbs, nav, body. ``status``: a
    page whose figures refresh shows the views' freshness in its title bar
    (freshness_ui.badge, filled by its refresh callback through ``d-body``)."""
    head = [html.Div(className="brand", children=[
                html.Span(className="brand-mark"),
                html.Span(city.name, className="brand-city"),
                html.Span(title, className="brand-title"),
            ]),
            crumb_nav]
    if status:
        head.append(badge(lang, "d"))
    head.append(html.Nav(className="replay-nav", children=[
        *extra_nav, html.A(T("nav_wall", lang), href=with_lang("/wall", lang), className="nav-link")]))
    body = html.Main(id=BODY, className=BODY, children=children) if status else html.Main(
        className=BODY, children=children)
    return html.Div(className=f"plain drill {cls}".strip(), children=[
        html.Header(className="topbar", children=head), body])


def message(city: CityModel, text: str, lang: str = "zh") -> html.Div:
    return frame(city, T("d_title", lang), html.Nav(className="d-crumbs"),
                 [html.Div(text, id="page-message", className="page-message")], lang)


def level_name(level: str, lang: str) -> str:
    return T(f"d_level_{level}", lang)


def _panel(title, body, cls: str = "", count=None) -> html.Div:
    head = [html.Span(className="panel-mark"), title]
    if count is not None:
        head.append(count)
    return html.Div(className=f"panel {cls}", children=[html.Div(className="panel-title", children=head), body])
