"""The notifier on the alerts page: the silences (list, add, expire) and, per alert, the
notifications that carried it (receiver, status, attempts, when).

Added to ``/alerts`` by alerts_ui.py; the writes go through the same sink as
``POST /api/silences`` (notify_sink.py), so a silence set here is on the topic, seen by
every notifier replica and shown by the CLI.
"""

from __future__ import annotations

import time

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from gridpulse.clock import fmt_local
from gridpulse.rkeys import Keys
from notify.commands import log_rows

from . import api_notify
from .api import ApiError
from .checks import Invalid, accepts, count, text
from .checks import lang as lang_check


def counts(value) -> None:
    """The end buttons' clicks: None or a list of counts (one per silence shown)."""
    if value is None:
        return
    if not isinstance(value, list) or len(value) > 1000 or not all(
            x is None or (isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 2**53) for x in value):
        raise Invalid("expected a list of click counts")

T = {"zh": {"title": "静默规则", "none": "无生效的静默", "matchers": "匹配条件（如 district=\"330203\" kind=~\"warning|likely_breach\"）",
            "duration": "时长（如 2h）", "creator": "设置人（姓名/岗位）", "comment": "说明", "add": "添加静默",
            "expire": "结束", "added": "已添加静默 {id}", "expired": "已结束 {id}", "notes": "通知",
            "st_pending": "发送中", "st_sent": "已送达", "st_failed": "失败", "active": "生效中", "pending": "未开始"},
     "en": {"title": "Silences", "none": "No active silences", "matchers": "Matchers (e.g. district=\"330203\" kind=~\"warning|likely_breach\")",
            "duration": "Duration (e.g. 2h)", "creator": "By (name / post)", "comment": "Comment", "add": "Add silence",
            "expire": "End", "added": "Silence {id} added", "expired": "{id} ended", "notes": "Notifications",
            "st_pending": "sending", "st_sent": "delivered", "st_failed": "failed", "active": "active", "pending": "pending"}}


def words(lang: str) -> dict:
    return T["en" if lang == "en" else "zh"]


def silence_list(r, keys: Keys, tz: str, lang: str) -> html.Ul | html.Div:
    """The active and pending silences, each with an "end" button."""
    W = words(lang)
    rows = api_notify.silences(r, keys)
    if not rows:
        return html.Div(W["none"], className="sil-none")
    items = []
    for s in rows:
        ms = ", ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in s["matchers"])
        items.append(html.Li(className="sil-item", **{"data-silence": s["id"]}, children=[
            html.Span(W[s["state"]], className=f"sil-state sil-{s['state']}"),
            html.Span(f" {{{ms}}} ", className="sil-matchers"),
            html.Span(f"{fmt_local(s['start'], tz, '%m-%d %H:%M')} → {fmt_local(s['end'], tz, '%m-%d %H:%M')} · "
                      f"{s['creator']}" + (f" · {s['comment']}" if s.get("comment") else ""), className="sil-meta"),
            html.Button(W["expire"], id={"type": "sil-expire", "id": s["id"]}, className="ack-btn ghost")]))
    return html.Ul(items, className="sil-list")


def panel(r, keys: Keys, tz: str, lang: str) -> html.Div:
    """The silences panel of the alerts page."""
    W = words(lang)
    return html.Div(className="sil-panel", id="sil-panel", children=[
        html.Div(W["title"], className="panel-title"),
        html.Div(silence_list(r, keys, tz, lang), id="sil-list"),
        html.Div(className="sil-form", children=[
            dcc.Input(id="sil-matchers", type="text", placeholder=W["matchers"], maxLength=1000, className="sil-in wide"),
            dcc.Input(id="sil-duration", type="text", value="2h", maxLength=16, className="sil-in"),
            dcc.Input(id="sil-creator", type="text", placeholder=W["creator"], maxLength=64, className="sil-in"),
            dcc.Input(id="sil-comment", type="text", placeholder=W["comment"], maxLength=500, className="sil-in"),
            html.Button(W["add"], id="sil-add", className="ack-btn primary"),
            html.Span("", id="sil-msg", className="ack-note")]),
        dcc.Store(id="sil-lang", data="en" if lang == "en" else "zh")])


def notes_by_alert(r, keys: Keys, alert_ids: list[str]) -> dict[str, list[dict]]:
    """Per alert, the notifications that carried it (newest first)."""
    return {a: log_rows(r, keys, alert=a, limit=10) for a in alert_ids}


def cell(notes: list[dict], tz: str, lang: str) -> html.Div:
    """One alert's notifications, one line each: receiver, status, attempts, when."""
    W = words(lang)
    return html.Div([html.Div(
        f"{n['receiver']} · {W['st_' + n['status']]} · {n.get('attempts', 0)}× · "
        f"{fmt_local(n['sent'] or n['decided'], tz, '%H:%M:%S')}" + (f" · {n['error'][:60]}" if n.get("error") else ""),
        className=f"nt-item nt-{n['status']}", title=n["key"]) for n in notes], className="nt-cell")


def register(app: Dash, r, keys: Keys, sink, tz: str) -> None:
    """The panel's callbacks: add a silence, end one."""

    @app.callback(Output("sil-list", "children"), Output("sil-msg", "children"),
                  Input("sil-add", "n_clicks"), Input({"type": "sil-expire", "id": ALL}, "n_clicks"),
                  State("sil-matchers", "value"), State("sil-duration", "value"), State("sil-creator", "value"),
                  State("sil-comment", "value"), State("sil-lang", "data"), prevent_initial_call=True)
    @accepts(count, counts, text(1000), text(16), text(64), text(500), lang_check)
    def _silence(_add, _expire, matchers, duration, creator, comment, lang):
        lang = "en" if lang == "en" else "zh"
        W = words(lang)
        trig = ctx.triggered_id
        now = int(time.time() * 1000)
        try:
            if isinstance(trig, dict) and trig.get("type") == "sil-expire":
                if not any(v for v in (ctx.triggered[0].get("value"),) if v):
                    return no_update, no_update
                raw = r.hget(keys.notify_silences(), str(trig.get("id"))[:64])
                if raw is None:
                    return silence_list(r, keys, tz, lang), ""
                from gridpulse.schemas import decode_silence
                from notify.silences import expired
                sil = expired(decode_silence(raw), now)
                sink.send(sil)
                return silence_list(r, keys, tz, lang), W["expired"].format(id=sil.id)
            from notify import matchers as mt
            body = {"matchers": [str(m) for m in mt.parse_all("{" + (matchers or "").replace("\" ", "\", ") + "}")]
                    if matchers else [], "duration": duration or "2h", "creator": creator or "",
                    "comment": comment or ""}
            sil = api_notify.parse_silence(body, now)
            sink.send(sil)
            return silence_list(r, keys, tz, lang), W["added"].format(id=sil.id)
        except ApiError as err:
            return no_update, f"{err.field}: {err.message}"
        except ValueError as err:
            return no_update, f"matchers: {err}"
        except Exception as err:  # noqa: BLE001 - the broker's failure, said on the page
            return no_update, f"kafka: {err}"
