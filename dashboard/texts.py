"""Every piece of UI text of the wall display, in one place.

The wall runs in Chinese; an English table can be added beside ``ZH`` and chosen by a
setting later without touching the layout code.
"""

from __future__ import annotations

from gridpulse.catalog import CATEGORIES, SEVERITIES

ZH: dict[str, str] = {
    "title": "社会治理 · 网格实时态势",
    "subtitle": "基层治理四平台 · 指挥中心",
    "event_time": "事件时间",
    "live": "实时",
    "stale": "数据中断",
    "waiting": "连接中",
    "tile_new_today": "今日新增",
    "tile_last_hour": "近1小时",
    "tile_open": "在办",
    "tile_active_workers": "在线网格员",
    "tile_overdue": "超期",
    "tile_on_time_rate": "按期办结率",
    "tile_satisfaction_rate": "满意率",
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
}

WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

STAGES_ZH: dict[str, str] = {
    "reported": "上报", "registered": "立案", "dispatched": "派遣", "accepted": "受理",
    "handled": "处置", "verified": "核查", "closed": "结案", "evaluated": "评价",
    "returned": "退回", "reassigned": "改派", "escalated": "督办", "reopened": "重办",
}


def texts() -> dict:
    """The text tables the browser needs (labels, categories, severities, stages)."""
    return {
        "ui": ZH,
        "categories": {code: c.name for code, c in CATEGORIES.items()},
        "severities": {str(k): v[0] for k, v in SEVERITIES.items()},
        "stages": STAGES_ZH,
        "weekdays": WEEKDAYS_ZH,
    }
