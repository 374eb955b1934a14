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
