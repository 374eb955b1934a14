"""What the screens say about the freshness of what they show.

:func:`signal` turns a :class:`gridpulse.freshness.Freshness` into the small document a
screen needs: the state, its numbers (records and seconds behind, percent rebuilt, the
time it went stale), whether the figures shown must be dimmed and the time they are
from. The wall receives it in every live payload and words it in the browser
(assets/wall.js, ``stateText``); the drill-down and alerts pages word it here
(:func:`label`) with the same text keys (texts.py, ``st_``). :func:`badge` is the
indicator of a page's title bar.
"""

from __future__ import annotations

from dash import Output, html, no_update

from gridpulse.freshness import (BEHIND, EMPTY, LIVE, REBUILDING, STALE, UNREACHABLE, Freshness, clock_text,
                                 unreachable)

from gridpulse.views import UNREACHABLE as AWAY

from .texts import fmt_int, ui

# States whose figures are shown dimmed: they are true only as of an earlier time.
DIMMED = (STALE, UNREACHABLE)


def figures_time(fresh: Freshness, read_at: int) -> int:
    """When the figures read at wall-clock ``read_at`` were true: then, if the views were
    following the log (nothing missing but a few records); else at their newest write."""
    if fresh.state in (LIVE, BEHIND) or fresh.data_at is None:
        return read_at
    return fresh.data_at


def signal(fresh: Freshness, now: int, tz: str, figures_at: int | None = None,
           held: bool = False) -> dict:
    """The screens' view of ``fresh`` at wall-clock ``now``: ``state``; ``records`` and
    ``secs`` (behind), ``pct`` (rebuilt), ``since`` (``HH:MM``, stale); ``dim`` (the figures
    shown are not current: the views are stale or unreachable, or ``held``, kept from an
    earlier read) and ``asof`` (``HH:MM`` of ``figures_at``, when the figures shown were true)."""
    done = (fresh.rebuilding or {}).get("done")
    secs = fresh.behind_s
    return {
        "state": fresh.state,
        "records": fresh.records if fresh.state == BEHIND else None,
        "secs": int(secs) if fresh.state == BEHIND and secs else None,
        "pct": int(100 * done) if fresh.state == REBUILDING and done is not None else None,
        "since": clock_text(fresh.since, now, tz) if fresh.state == STALE else None,
        "dim": held or fresh.state in DIMMED,
        "asof": clock_text(figures_at, now, tz),
    }


def label(sig: dict, lang: str) -> str:
    """The indicator's words for ``sig`` in ``lang`` (as assets/wall.js ``stateText``)."""
    T = ui(lang)
    state = sig["state"]
    if state == BEHIND:
        parts = []
        if sig.get("records"):
            parts.append(T["st_records"].format(n=fmt_int(sig["records"], lang)))
        if sig.get("secs"):
            parts.append(T["st_secs"].format(s=fmt_int(sig["secs"], lang)))
        return T["st_behind"].format(what=" · ".join(parts)) if parts else T["st_behind_plain"]
    if state == REBUILDING:
        return T["st_rebuilding"].format(p=sig["pct"] if sig.get("pct") is not None else 0)
    if state == STALE:
        return T["st_stale"].format(t=sig["since"]) if sig.get("since") else T["st_stale_plain"]
    if state == EMPTY:
        return T["st_empty"]
    if state == UNREACHABLE:
        return T["st_unreachable"]
    return T["live"]


def asof_label(sig: dict, lang: str) -> str:
    """The note beside dimmed figures: the time they are from ("" when not dimmed)."""
    if not sig.get("dim") or not sig.get("asof"):
        return ""
    return ui(lang)["st_asof"].format(t=sig["asof"])


def indicator_class(sig: dict) -> str:
    """The indicator's class (assets/wall.css colours each state)."""
    return f"live-ind {sig['state']}"


def badge(lang: str, prefix: str = "d") -> html.Div:
    """A page's freshness indicator (``<prefix>-status``, filled by its refresh callback)
    and the note of the time its figures are from (``<prefix>-asof``)."""
    return html.Div(className="fresh-box", children=[
        html.Span("", id=f"{prefix}-asof", className="data-asof"),
        html.Div(id=f"{prefix}-status", className="live-ind waiting", children=[
            html.Span(className="live-dot"),
            html.Span(ui(lang)["waiting"], id=f"{prefix}-status-text", className="live-text")]),
    ])


def status_outputs(prefix: str = "d") -> list:
    """The Dash outputs :func:`page_status` fills, for a page with :func:`badge` and a
    body of id ``<prefix>-body``."""
    return [Output(f"{prefix}-status", "className"), Output(f"{prefix}-status-text", "children"),
            Output(f"{prefix}-asof", "children"), Output(f"{prefix}-body", "className")]


def read_fresh(watch) -> Freshness | None:
    """The views' freshness through ``watch`` (api.RedisWatch, which logs an outage once);
    None when Redis does not answer."""
    try:
        return watch.fresh()
    except AWAY:
        return None


def holds(fresh: Freshness | None) -> bool:
    """Whether a page must keep the figures it shows instead of reading new ones: Redis
    is away (``fresh`` None), or the views are being rebuilt or were emptied."""
    return fresh is None or fresh.state in (REBUILDING, EMPTY)


def page_status(fresh: Freshness | None, now: int, tz: str, lang: str, body_cls: str,
                held: bool | None = None) -> tuple:
    """A page refresh's status outputs (:func:`badge`, then the page body's class):
    indicator class, words, the as-of note and ``body_cls``, dimmed when the figures
    shown are not current. ``fresh`` None: Redis is away. ``held``: whether the page
    kept its figures (default :func:`holds`); the note is then left as it is
    (``no_update``): it names the time they are from."""
    held = holds(fresh) if held is None else held
    sig = signal(fresh or unreachable(), now, tz, None if held else figures_time(fresh, now), held=held)
    note = no_update if held or not sig["asof"] else ui(lang)["st_asof"].format(t=sig["asof"])
    return (indicator_class(sig), label(sig, lang), note, body_cls + (" dim" if sig["dim"] else ""))
