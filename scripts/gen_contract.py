"""Refresh the generated blocks of docs/contract.md from the msgspec wire structs.

Blocks sit between ``<!-- generated:NAME -->`` and ``<!-- /generated -->``; everything
else in the file is written by hand. ``tests/unit/test_contract.py`` fails when the doc
and the code disagree, so run ``python scripts/gen_contract.py`` after changing a schema.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse import schemas  # noqa: E402

DOC = ROOT / "docs" / "contract.md"

EXAMPLES = {
    "CaseEvent": schemas.CaseEvent(
        id="C20261127-0000042.3", case="C20261127-0000042", type="dispatched", ts=1795746600000,
        grid="330203001001003", category="sanitation", severity=3, lon=121.551234, lat=29.874321,
        dept="sanitation", actor="center"),
    "GpsBatch": schemas.GpsBatch(
        id="T00017-1795741690003", terminal="T00017", worker="W00017", grid="330203001001003",
        fixes=[schemas.Fix(1795741690003, 121.551234, 29.874321, 8.5),
               schemas.Fix(1795741700003, 121.551301, 29.874402, 9.0)]),
    "Alert": schemas.Alert(
        id="C20261127-0000042:handled:overdue", kind="overdue", ts=1795750200000,
        case="C20261127-0000042", stage="handled", deadline=1795750200000,
        grid="330203001001003", community="330203001001", town="330203001", district="330203",
        city="330200", dept="sanitation", severity=3, category="sanitation"),
    "AlertAck": schemas.AlertAck(
        id="ack-5f0c2a1e", alert="C20261127-0000042:handled:overdue", by="李明 (海曙区指挥中心)",
        at=1795750500000, comment="已电话督办，环卫所承诺 16:00 前处理"),
    "DeadLetter": schemas.DeadLetter(
        topic="gp.case-events", partition=2, offset=1841, at=1795741700123,
        reason="Expected `int` <= 4, got `9` - at `$.severity`", raw=b'{"v":1,"severity":9}'),
}


def blocks() -> dict[str, str]:
    """Generated text per block name: the JSON Schema and an example of each struct."""
    out = {}
    for name, example in EXAMPLES.items():
        schema = msgspec.json.schema(type(example))
        out[f"{name}.schema"] = "```json\n" + json.dumps(schema, indent=2, ensure_ascii=False) + "\n```"
        ex = json.loads(schemas.encode(example))
        out[f"{name}.example"] = "```json\n" + json.dumps(ex, indent=2, ensure_ascii=False) + "\n```"
    return out


PATTERN = re.compile(r"(<!-- generated:(?P<name>[\w.]+) -->\n)(?P<body>.*?)(\n<!-- /generated -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block refreshed."""
    gen = blocks()
    return PATTERN.sub(lambda m: m.group(1) + gen[m.group("name")] + m.group(4), text)


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"refreshed {DOC}")
