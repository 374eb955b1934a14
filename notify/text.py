"""What people read: an alert's annotations and the robots' markdown, Chinese by default.

Annotations (also in the webhook payload): ``summary`` (one line), ``description``
(district, category, department, how late, the deadline), ``case_url`` (the case page),
``deadline`` (local time) and ``late`` (how late at the flush). Robot messages list one
alert a line under a title and are cut to the receiver's byte limit: the alerts that do
not fit are counted in a last line that points to the alerts page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gridpulse.catalog import CATEGORIES, DEPARTMENTS
from gridpulse.clock import fmt_local

from .labels import Tracked

KIND_NAMES = {
    "zh": {"warning": "临期预警", "overdue": "超期", "escalation": "督办升级", "likely_breach": "可能超期",
           "resolved": "已解除", "off_grid": "离开网格", "silent_terminal": "终端静默", "silent_grid": "网格静默"},
    "en": {"warning": "Deadline near", "overdue": "Overdue", "escalation": "Escalation",
           "likely_breach": "Likely breach", "resolved": "Resolved", "off_grid": "Off grid",
           "silent_terminal": "Silent terminal", "silent_grid": "Silent grid"}}
LEVELS = {"zh": {"1": "街道", "2": "区", "3": "市"}, "en": {"1": "town", "2": "district", "3": "city"}}
WORDS = {
    "zh": {"late": "超时", "deadline": "时限", "case": "案件", "firing": "告警", "resolved": "已解除",
           "more": "另有 {n} 条告警未列出（消息长度上限），见 {url}", "title": "【{kind}】{area} {n} 条",
           "level": "督办至{level}级", "worker": "网格员", "terminal": "终端", "acked": "已确认"},
    "en": {"late": "late", "deadline": "deadline", "case": "case", "firing": "firing", "resolved": "resolved",
           "more": "{n} more alerts not listed (message size limit): see {url}",
           "title": "[{kind}] {area}: {n}", "level": "escalated to the {level}",
           "worker": "worker", "terminal": "terminal", "acked": "acknowledged"}}


@dataclass(frozen=True)
class Namer:
    """Names for codes: areas (from the city model), categories and departments."""

    area: Callable[[str, str], str] = lambda code, lang: code

    def category(self, code: str | None, lang: str) -> str:
        c = CATEGORIES.get(code or "")
        return (c.name_en if lang == "en" else c.name) if c else (code or "")

    def dept(self, code: str | None, lang: str) -> str:
        d = DEPARTMENTS.get(code or "")
        return (d.name_en if lang == "en" else d.name) if d else (code or "")


def duration_text(ms: int, lang: str) -> str:
    """``2小时5分`` / ``2 h 5 min``."""
    m = max(0, ms) // 60_000
    d, h, mm = m // 1440, m % 1440 // 60, m % 60
    if lang == "en":
        return " ".join(p for p in (f"{d} d" if d else "", f"{h} h" if h else "", f"{mm} min") if p)
    return "".join(p for p in (f"{d}天" if d else "", f"{h}小时" if h else "", f"{mm}分"))


def annotations(t: Tracked, at: int, tz: str, external_url: str, names: Namer, lang: str) -> dict[str, str]:
    """The alert's annotations at flush time ``at``."""
    a, W = t.alert, WORDS[lang]
    kind = KIND_NAMES[lang].get(a.kind, a.kind)
    where = " ".join(x for x in (names.area(a.district, lang) if a.district else "",
                                 names.area(a.town, lang) if a.town else "") if x)
    out: dict[str, str] = {}
    parts = [where, names.category(a.category, lang), names.dept(a.dept, lang)]
    if a.kind == "escalation" and t.labels.get("level"):
        parts.append(W["level"].format(level=LEVELS[lang].get(t.labels["level"], t.labels["level"])))
    if a.deadline:
        out["deadline"] = fmt_local(a.deadline, tz, "%Y-%m-%d %H:%M")
        if a.kind in ("overdue", "escalation") and at > a.deadline:
            out["late"] = duration_text(at - a.deadline, lang)
            parts.append(f"{W['late']} {out['late']}")
        parts.append(f"{W['deadline']} {fmt_local(a.deadline, tz, '%m-%d %H:%M')}")
    if a.worker or a.terminal:
        parts.append(f"{W['worker']} {a.worker or ''} {W['terminal']} {a.terminal or ''}".strip())
    if a.case:
        out["case_url"] = f"{external_url}/case/{a.case}" + ("?lang=en" if lang == "en" else "")
    subject = a.case or a.terminal or a.grid or a.id
    out["summary"] = f"{kind} {subject}" + (f" ({where})" if where else "")
    out["description"] = " · ".join(p for p in parts if p)
    if a.message:
        out["message"] = a.message
    return out


def _line(t: Tracked, status: str, at: int, tz: str, url: str, names: Namer, lang: str) -> str:
    ann = annotations(t, at, tz, url, names, lang)
    kind = KIND_NAMES[lang].get(t.alert.kind, t.alert.kind)
    subject = t.alert.case or t.alert.terminal or t.alert.grid or t.alert.id
    link = f"[{subject}]({ann['case_url']})" if "case_url" in ann else subject
    tag = "" if status == "firing" else f" ({WORDS[lang]['resolved']})"
    acked = f" ({WORDS[lang]['acked']})" if t.acked_at is not None else ""
    return f"- **{kind}**{tag}{acked} {link} {ann['description']}"


def markdown(groups: list[tuple[dict[str, str], list[tuple[Tracked, str]]]], at_of: Callable, tz: str,
             url: str, names: Namer, lang: str, max_bytes: int, mention: str = "") -> tuple[str, str, int]:
    """``(title, markdown text, alerts cut)`` for one or more notifications' alerts.

    ``groups`` holds per notification its group labels and ``(alert, status)`` pairs;
    the text stays within ``max_bytes`` UTF-8 bytes (0: no limit), the last line saying
    how many alerts it leaves out and where to see them.
    """
    W = WORDS[lang]
    total = sum(len(a) for _, a in groups)
    first_labels = groups[0][0] if groups else {}
    kinds = sorted({t.alert.kind for _, a in groups for t, _ in a})
    kind = "/".join(KIND_NAMES[lang].get(k, k) for k in kinds) or "-"
    area = names.area(first_labels["district"], lang) if first_labels.get("district") else ""
    title = W["title"].format(kind=kind, area=area, n=total).strip()
    head = f"### {title}\n"
    tail_mention = f"\n\n{mention}" if mention else ""
    more_tpl = "\n\n" + W["more"]
    link = f"{url}/alerts" + ("?lang=en" if lang == "en" else "")
    budget = (max_bytes or 1 << 30) - len(head.encode()) - len(tail_mention.encode()) \
        - len(more_tpl.format(n=total, url=link).encode())
    lines, used, shown = [], 0, 0
    for labels, alerts in groups:
        for t, status in alerts:
            line = _line(t, status, at_of(labels), tz, url, names, lang) + "\n"
            size = len(line.encode())
            if used + size > budget:
                break
            lines.append(line)
            used += size
            shown += 1
        else:
            continue
        break
    cut = total - shown
    body = head + "".join(lines).rstrip("\n")
    if cut:
        body += more_tpl.format(n=cut, url=link)
    return title, body + tail_mention, cut
