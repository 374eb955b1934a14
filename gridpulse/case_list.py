"""Open cases of an area, filtered and sorted: the drill-down's case table and the
wall's overdue board (rows written by the case workers, ``gp:case:<p>:open``)."""

from __future__ import annotations

import msgspec

from .rkeys import CASE
from .views import LiveView

_json = msgspec.json.Decoder()
AREA_FIELDS = ("grid", "community", "town", "district")


def late_by(row: dict, now: int) -> int:
    """How late an open case is at ``now`` (ms past its running deadline; <= 0: not late)."""
    return now - row["deadline"] if row["deadline"] else 0


class CaseList:
    """Reads the open-case rows of every case partition."""

    def __init__(self, live: LiveView) -> None:
        self.live = live

    def rows(self) -> list[dict]:
        """Every open case's row."""
        parts = self.live.partitions(CASE)
        pipe = self.live.r.pipeline(transaction=False)
        for p in parts:
            pipe.hvals(self.live.k.open_cases(p))
        return [_json.decode(v) for vals in pipe.execute() for v in vals]

    def open(self, area: str | None = None, *, category: str | None = None,
             dept: str | None = None, stage: str | None = None, overdue: bool | None = None,
             sort: str = "late", limit: int = 200, now: int | None = None) -> dict:
        """``{"total": n, "rows": [...]}``: open cases of ``area`` (any level; None: the
        city) matching the filters, most late first (``sort="late"``) or newest first
        (``"new"``); each row carries ``late_ms`` at ``now`` (default: the watermark)."""
        wm = self.live.watermark() if now is None else now
        out = []
        for r in self.rows():
            if area and area not in (r[f] for f in AREA_FIELDS):
                continue
            if (category and r["category"] != category) or (dept and r["dept"] != dept) \
                    or (stage and r["stage"] != stage) or (overdue is not None and r["overdue"] != overdue):
                continue
            r["late_ms"] = late_by(r, wm)
            out.append(r)
        if sort == "new":
            out.sort(key=lambda r: (-r["ts"], r["case"]))
        else:
            out.sort(key=lambda r: (-r["late_ms"] if r["overdue"] else 1, -r["ts"], r["case"]))
        return {"total": len(out), "watermark": wm, "rows": out[:limit]}
