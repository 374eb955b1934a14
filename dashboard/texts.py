"""Every piece of UI text of the wall display, in one place, per language.

Chinese (``ZH``) is the default; English (``EN``) is chosen per page with ``?lang=en``
(:func:`lang_of`). :func:`texts` returns the browser's tables of a language (labels,
categories, severities, stages, weekdays, number/date format); :func:`ui` the labels
only, for server-rendered pages. A key missing from ``EN`` falls back to ``ZH`` (others
add ``d_``-prefixed keys to ``ZH``; an English twin is welcome but not required).
"""

from __future__ import annotations

from gridpulse.catalog import CATEGORIES, SEVERITIES

ZH: dict[str, str] = {
    "title": "社会治理 · 网格实时态势",
    "subtitle": "基层治理四平台 · 指挥中心",
    "event_time": "事件时间",
    "live": "实时",
    "waiting": "连接中",
    # the views' freshness (freshness_ui.py, wall.js stateText)
    "st_lost": "大屏服务无响应",
    "st_behind": "滞后 {what}",
    "st_behind_plain": "数据滞后",
    "st_records": "{n} 条",
    "st_secs": "{s} 秒",
    "st_rebuilding": "重建中 {p}%",
    "st_stale": "数据停滞 · 自 {t}",
    "st_stale_plain": "数据停滞",
    "st_empty": "暂无数据",
    "st_unreachable": "Redis 无法连接",
    "st_asof": "数据截至 {t}",
    "st_page_unreachable": "Redis 无法连接，页面暂时无法显示。",
    "st_retry": "重试",
    "dead_today": "今日拒收",
    "dead_hint": "今日因格式或内容错误被拒收的消息（详见 gridpulse deadletter ls）",
    "tile_new_today": "今日新增",
    "tile_last_hour": "近1小时",
    "tile_open": "在办",
    "tile_active_workers": "在线网格员",
    "tile_overdue": "超期",
    "tile_on_time_rate": "按期办结率",
    "tile_satisfaction_rate": "满意率",
    "tile_coverage": "走访覆盖率",
    "scope_30d": "近30天",
    "sub_visits_today": "今日走访",
    "unit_visit": "次",
    "scope_now": "当前",
    "scope_today": "今日",
    "unit_case": "件",
    "unit_person": "人",
    "no_rate": "—",  # a rate with nothing to divide by yet (no case closed / evaluated today)
    "trend": "近60分钟事件上报（件/分钟）",
    "districts": "各区县在办事件",
    "ticker": "最新上报事件",
    "legend_severity": "事件等级",
    "legend_workers": "在线网格员",
    "legend_grids": "网格边界",
    "map_note": "底图：本地行政区划与网格数据（离线）",
    "no_data": "暂无数据",
    "mode_none": "网格边界",
    "mode_open": "在办事件",
    "mode_overdue": "超期事件",
    "legend_cases_per_grid": "每网格",
    "mode_today": "今日覆盖",
    "mode_week": "本周覆盖",
    "mode_30d": "30日覆盖",
    # dash-deck's tooltip template: {t} is the dot's terminal id
    "worker_tooltip": "终端 {t}<br/><span style='color:#8fb3d9'>点击查看当日轨迹回放</span>",
    # the day replay (replay.py) and the grid's workers (pages.py)
    "replay_title": "网格员轨迹回放",
    "replay_summary": "当日概况",
    "replay_visits": "走访记录",
    "replay_play": "▶ 播放",
    "replay_pause": "❚❚ 暂停",
    "replay_link": "轨迹回放",
    "no_visits": "当日无走访",
    "r_worker": "网格员",
    "r_terminal": "终端",
    "r_grid": "网格",
    "r_grid_code": "网格编码",
    "r_date": "日期",
    "r_dist": "里程",
    "r_dist_km": "里程（km）",
    "r_duty": "在岗时长",
    "r_visits": "走访",
    "r_stays": "未匹配停留",
    "r_first": "首次定位",
    "r_last": "末次定位",
    "lg_trip": "轨迹（近10分钟）",
    "lg_visit": "走访（匹配住户）",
    "lg_stay": "停留（未匹配住户）",
    "lg_grid": "所属网格",
    "nav_wall": "返回大屏",
    "nav_grid_workers": "本网格网格员",
    "workers_title": "网格员当日轨迹",
    "workers_count": "当日共 {n} 部终端",
    "no_workers": "当日该网格无定位记录",
    "nf_page": "页面不存在：{path}",
    "nf_no_data": "暂无定位数据",
    "nf_track": "{what} {id} 在 {date} 没有轨迹",
    "nf_grid": "网格不存在：{grid}",
    "bad_date": "日期格式错误：{date}（应为 YYYY-MM-DD）",
    "bad_id": "{what}编号无效：{id}",
    # the wall's new panels (issue 5)
    "overdue_board": "超期事件（按超期时长）",
    "late_h": "超{h}小时",
    "late_m": "超{m}分钟",
    "no_overdue": "暂无超期事件",
    "alerts": "预警",
    "alerts_open": "未处理",
    "alerts_more": "全部预警 ›",
    "no_alerts": "暂无预警",
    "heat_today": "今日新增热力",
    "spotlight": "区县轮播",
    "sp_open": "在办",
    "sp_overdue": "超期",
    "sp_new": "今日新增",
    "sp_hour": "近1小时",
    # the alerts page (alerts_ui.py)
    "alerts_title": "预警处置",
    "a_time": "时间",
    "a_kind": "类型",
    "a_area": "区域",
    "a_subject": "对象",
    "a_status": "状态",
    "a_acks": "确认",
    "a_action": "操作",
    "a_ack": "确认",
    "a_by": "确认人（姓名/岗位）",
    "a_comment": "备注（可选）",
    "a_send": "提交确认",
    "a_cancel": "取消",
    "a_sent": "已提交，等待各屏刷新",
    "a_need_by": "请填写确认人",
    "a_count": "共 {n} 条",
    "a_filter": "筛选：{f}",
    "a_bad_filter": "筛选条件无效（{field}）：{error}",
    "a_all": "全部",
    "st_open": "未处理",
    "st_acked": "已确认",
    "st_resolved": "已解除",
    "k_warning": "临期预警",
    "k_overdue": "超期",
    "k_escalation": "督办升级",
    "k_likely_breach": "可能超期",
    "k_resolved": "已解除",
    "k_off_grid": "离开网格",
    "k_silent_terminal": "终端静默",
    "k_silent_grid": "网格静默",
}

EN: dict[str, str] = {
    "title": "Social Governance · Live Grid Operations",
    "subtitle": "Grassroots Governance Platform · Command Centre",
    "event_time": "Event time",
    "live": "LIVE",
    "waiting": "Connecting",
    "st_lost": "Wall server not answering",
    "st_behind": "Behind by {what}",
    "st_behind_plain": "Behind",
    "st_records": "{n} records",
    "st_secs": "{s} s",
    "st_rebuilding": "Rebuilding {p}%",
    "st_stale": "Stale since {t}",
    "st_stale_plain": "Stale",
    "st_empty": "No data yet",
    "st_unreachable": "Redis unreachable",
    "st_asof": "Figures as of {t}",
    "st_page_unreachable": "Redis does not answer: this page cannot be shown yet.",
    "st_retry": "Retry",
    "dead_today": "Refused today",
    "dead_hint": "Messages refused today as malformed or invalid (see gridpulse deadletter ls)",
    "tile_new_today": "New today",
    "tile_last_hour": "Last hour",
    "tile_open": "Open",
    "tile_active_workers": "Workers online",
    "tile_overdue": "Overdue",
    "tile_on_time_rate": "Closed on time",
    "tile_satisfaction_rate": "Satisfaction",
    "tile_coverage": "Visit coverage",
    "scope_30d": "30 days",
    "sub_visits_today": "Visits today",
    "unit_visit": "",
    "scope_now": "now",
    "scope_today": "today",
    "unit_case": "cases",
    "unit_person": "people",
    "no_rate": "—",
    "trend": "Cases reported, last 60 min (per minute)",
    "districts": "Open cases by district",
    "ticker": "Latest cases",
    "legend_severity": "Severity",
    "legend_workers": "Workers online",
    "legend_grids": "Grid boundaries",
    "map_note": "Base map: local boundaries and grids (offline)",
    "no_data": "No data yet",
    "mode_none": "Grids",
    "mode_open": "Open cases",
    "mode_overdue": "Overdue",
    "legend_cases_per_grid": "Per grid",
    "mode_today": "Visited today",
    "mode_week": "This week",
    "mode_30d": "30 days",
    "worker_tooltip": "Terminal {t}<br/><span style='color:#8fb3d9'>Click for the day's replay</span>",
    "nav_wall": "Back to the wall",
    "nf_page": "No such page: {path}",
    # the day replay (replay.py) and the grid's workers (pages.py)
    "replay_title": "A grid worker's day",
    "replay_summary": "The day",
    "replay_visits": "Visits",
    "replay_play": "▶ Play",
    "replay_pause": "❚❚ Pause",
    "replay_link": "Replay the day",
    "no_visits": "No visits this day",
    "r_worker": "Worker",
    "r_terminal": "Terminal",
    "r_grid": "Grid",
    "r_grid_code": "Grid code",
    "r_date": "Date",
    "r_dist": "Distance",
    "r_dist_km": "Distance (km)",
    "r_duty": "On duty",
    "r_visits": "Visits",
    "r_stays": "Stays, no household",
    "r_first": "First fix",
    "r_last": "Last fix",
    "lg_trip": "Track (last 10 min)",
    "lg_visit": "Visit (household matched)",
    "lg_stay": "Stay (no household)",
    "lg_grid": "Assigned grid",
    "nav_grid_workers": "Workers of this grid",
    "workers_title": "Grid workers' day",
    "workers_count": "{n} terminals this day",
    "no_workers": "No positions in this grid this day",
    "nf_no_data": "No position data yet",
    "nf_track": "{what} {id} has no track on {date}",
    "nf_grid": "No such grid: {grid}",
    "bad_date": "Bad date: {date} (expected YYYY-MM-DD)",
    "bad_id": "Invalid {what} id: {id}",
    "overdue_board": "Overdue cases (most late first)",
    "late_h": "{h} h late",
    "late_m": "{m} min late",
    "no_overdue": "No overdue cases",
    "alerts": "Alerts",
    "alerts_open": "open",
    "alerts_more": "All alerts ›",
    "no_alerts": "No alerts",
    "heat_today": "Today's cases (hexagons)",
    "spotlight": "District spotlight",
    "sp_open": "Open",
    "sp_overdue": "Overdue",
    "sp_new": "New today",
    "sp_hour": "Last hour",
    "alerts_title": "Alerts",
    "a_time": "Time",
    "a_kind": "Kind",
    "a_area": "Area",
    "a_subject": "Subject",
    "a_status": "Status",
    "a_acks": "Acknowledged",
    "a_action": "",
    "a_ack": "Acknowledge",
    "a_by": "Your name / post",
    "a_comment": "Comment (optional)",
    "a_send": "Acknowledge",
    "a_cancel": "Cancel",
    "a_sent": "Sent; every screen shows it on its next refresh",
    "a_need_by": "Please give your name",
    "a_count": "{n} alerts",
    "a_filter": "Filter: {f}",
    "a_bad_filter": "Not a filter of the alerts board ({field}): {error}",
    "a_all": "all",
    "st_open": "open",
    "st_acked": "acknowledged",
    "st_resolved": "resolved",
    "k_warning": "Deadline near",
    "k_overdue": "Overdue",
    "k_escalation": "Escalation",
    "k_likely_breach": "Likely breach",
    "k_resolved": "Resolved",
    "k_off_grid": "Off grid",
    "k_silent_terminal": "Silent terminal",
    "k_silent_grid": "Silent grid",
}

LANGS = ("zh", "en")
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

STAGES_ZH: dict[str, str] = {
    "reported": "上报", "registered": "立案", "dispatched": "派遣", "accepted": "受理",
    "handled": "处置", "verified": "核查", "closed": "结案", "evaluated": "评价",
    "returned": "退回", "reassigned": "改派", "escalated": "督办", "reopened": "重办",
}


STAGES_EN: dict[str, str] = {
    "reported": "Reported", "registered": "Registered", "dispatched": "Dispatched",
    "accepted": "Accepted", "handled": "Handled", "verified": "Verified", "closed": "Closed",
    "evaluated": "Evaluated", "returned": "Returned", "reassigned": "Reassigned",
    "escalated": "Escalated", "reopened": "Reopened",
}


# The wall's ticker and overdue board give a category ~20 characters: shorter English
# names for the long ones (the drill-down pages use the catalogue's full names).
WALL_CATEGORIES_EN: dict[str, str] = {
    "security": "Security hazard", "food_drug": "Food & drugs", "facility": "Facilities",
    "livelihood": "Livelihood", "migrants": "Migrants, rentals",
}


def lang_of(query) -> str:
    """The page's language from its query: a parsed ``{name: [values]}`` dict (pages.py's
    ``query``) or the raw ``?search`` string; ``"zh"`` unless ``lang=en``."""
    if query is None or isinstance(query, str):
        from urllib.parse import parse_qs
        query = parse_qs((query or "").lstrip("?"))
    value = (query.get("lang") or ["zh"])[0].lower()
    return value if value in LANGS else "zh"


def with_lang(href: str, lang: str) -> str:
    """``href`` asking for ``lang``'s page: ``?lang=en`` (or ``&lang=en``) added in English."""
    if lang != "en":
        return href
    return href + ("&" if "?" in href else "?") + "lang=en"


def ui(lang: str = "zh") -> dict[str, str]:
    """The label table of ``lang`` (English falls back to Chinese key by key)."""
    return {**ZH, **EN} if lang == "en" else ZH


def fmt_int(n: int | None, lang: str = "zh") -> str:
    """A count as the pages show it: English groups thousands ("12,345"), Chinese not."""
    if n is None:
        return "–"
    return f"{n:,}" if lang == "en" else str(n)


def fmt_date(y: int, m: int, d: int, weekday: int, lang: str = "zh") -> str:
    """A date with its weekday: "2026-11-27 星期五" or "Fri 27 Nov 2026"."""
    if lang == "en":
        return f"{WEEKDAYS_EN[weekday]} {d} {MONTHS_EN[m - 1]} {y}"
    return f"{y:04d}-{m:02d}-{d:02d} {WEEKDAYS_ZH[weekday]}"


def texts(lang: str = "zh") -> dict:
    """The text tables the browser needs (labels, categories, severities, stages, and
    how numbers and dates are written) in ``lang``."""
    en = lang == "en"
    return {
        "lang": "en" if en else "zh",
        "ui": ui(lang),
        "categories": {code: WALL_CATEGORIES_EN.get(code) or c.name_en or c.name if en else c.name
                       for code, c in CATEGORIES.items()},
        "severities": {str(k): v[1] if en else v[0] for k, v in SEVERITIES.items()},
        "stages": STAGES_EN if en else STAGES_ZH,
        "weekdays": WEEKDAYS_EN if en else WEEKDAYS_ZH,
        "months": MONTHS_EN if en else None,
        # wall.js: "group" puts thousands separators in counts; "date" orders the date.
        "fmt": {"group": "," if en else "", "date": "dmy" if en else "iso"},
    }
