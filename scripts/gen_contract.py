"""Refresh the generated blocks of docs/contract.md from the msgspec wire structs.

Blocks sit between ``<!-- generated:NAME -->`` and ``<!-- /generated -->``; everything
else in the file is written by hand. ``tests/unit/test_contract.py`` fails when the doc
and the code disagree, so run ``python scripts/gen_contract.py`` after changing a schema.

Per topic (``gridpulse.schemas.DECODERS``): ``<Struct>.schema``, the JSON Schema of its
value, and ``<Struct>.example``; ``sizes``, the largest value each topic can carry,
derived from the structs' limits by :func:`largest`.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import msgspec
import msgspec.inspect as mi

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
        id="C20261127-0000042:handle:1795746600000:overdue", kind="overdue", ts=1795761000000,
        case="C20261127-0000042", stage="dispatched", deadline=1795761000000,
        grid="330203001001003", community="330203001001", town="330203001", district="330203",
        city="330200", dept="sanitation", severity=3, category="sanitation"),
    "AlertAck": schemas.AlertAck(
        id="ack-5f0c2a1e", alert="C20261127-0000042:handle:1795746600000:overdue",
        by="李明 (海曙区指挥中心)", at=1795761300000, comment="已电话督办，环卫所承诺 16:00 前处理"),
    "Silence": schemas.Silence(
        id="sil-3f2a9c1d5e7b8a60", matchers=[
            schemas.SilenceMatcher(name="district", op="=", value="330203"),
            schemas.SilenceMatcher(name="kind", op="=~", value="warning|likely_breach")],
        start=1795744800000, end=1795773600000, creator="李明 (海曙区指挥中心)",
        comment="防汛演练期间暂停临期预警", created=1795744800000, updated=1795744800000),
    "Notification": schemas.Notification(
        key="5f0c2a1e9b7d4c3a8e6f1b2d3c4a5e6f", receiver="haishu-dingtalk",
        group_key='{}/{severity=~"1|2"}:{district="330203", kind="overdue"}',
        group_labels={"district": "330203", "kind": "overdue"}, at=1795761030000,
        reason="first_notification", alerts=[schemas.NotifiedAlert(
            id="C20261127-0000042:handle:1795746600000:overdue", fingerprint="a3c1f0e2b4d59687",
            status="firing")],
        status="sent", attempts=1, message="5f0c2a1e9b7d4c3a8e6f1b2d3c4a5e6f", decided=1795761091000,
        sent=1795761091240, latency_ms=31240, replica="notify-a"),
    "DeadLetter": schemas.dead_letter(
        "gp.case-events", 2, 1841, "Expected `int` <= 4, got `9` - at `$.severity`",
        b'{"v":1,"severity":9}', 1795741700123),
    "Tick": schemas.Tick(type="tick", ts=1795746600000),
}


def topic_structs() -> dict[str, type]:
    """Topic (without the deployment prefix) -> the struct its values decode to."""
    return {topic: dec.type for topic, dec in schemas.DECODERS.items()}


# -- the largest value a topic can carry ---------------------------------------------
# Sizes are of the canonical encoding: compact JSON as msgspec writes it (no spaces,
# shortest round-trip floats, only the escapes JSON requires, UTF-8), with every
# optional field present. A producer may write the same value longer (spaces, "1.50"),
# so these bound what gridpulse writes and what a sound producer needs to allow for.

#: Worst bytes one character of a string can take: a control character is ``\u00XX``.
_WORST_CHAR = 6
_INT64 = (-(2**63), 2**64 - 1)  # msgspec's int range (int64 and uint64)
_CLASS_ONLY = re.compile(r"\^(\[[^\]]*\])[+*]\$")  # a pattern like ^[A-Za-z0-9_]+$
_PROBES = [chr(c) for c in range(128)] + ["\x80", "\u07ff", "\u0800", "\u2028", "\uffff",
                                          "\U00010000", "\U0010ffff"]


def _char_bytes(pattern: str | None) -> int:
    """Worst encoded bytes of one character a string with ``pattern`` may hold."""
    m = _CLASS_ONLY.fullmatch(pattern or "")
    if m is None:
        return _WORST_CHAR
    cls = re.compile(m.group(1))
    return max(len(msgspec.json.encode(c)) - 2 for c in _PROBES if cls.fullmatch(c))


def _float_len(t: mi.FloatType) -> int:
    lo = t.ge if t.ge is not None else t.gt
    hi = t.le if t.le is not None else t.lt
    if lo is not None and hi is not None and lo >= 1 and hi < 1e16:
        return 18  # 17 significant digits and the point, never an exponent
    # 17 digits, a point and an exponent down to e-308; the sign unless only >= 0
    return 23 if lo is not None and lo >= 0 else 24


def largest(t) -> tuple[int | None, list[str]]:
    """``(bytes, unbounded)``: the longest canonical JSON of a value of msgspec type ``t``
    (a struct class or an inspected type), or ``None`` with the paths of the fields that
    have no limit."""
    if isinstance(t, type):
        t = mi.type_info(t)
    if isinstance(t, mi.Metadata):
        return largest(t.type)
    if isinstance(t, mi.NoneType):
        return 4, []
    if isinstance(t, mi.BoolType):
        return 5, []
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else _INT64[0])
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else _INT64[1])
        return max(len(str(lo)), len(str(hi))), []
    if isinstance(t, mi.FloatType):
        return _float_len(t), []
    if isinstance(t, mi.LiteralType):
        return max(len(msgspec.json.encode(v)) for v in t.values), []
    if isinstance(t, mi.EnumType):
        return max(len(msgspec.json.encode(m.value)) for m in t.cls), []
    if isinstance(t, mi.StrType):
        if t.max_length is None:
            return None, ["$"]
        return 2 + t.max_length * _char_bytes(t.pattern), []
    if isinstance(t, mi.BytesType):
        if t.max_length is None:
            return None, ["$"]
        return 2 + 4 * math.ceil(t.max_length / 3), []  # base64
    if isinstance(t, mi.UnionType):
        got = [largest(u) for u in t.types]
        open_ = [p for _, ps in got for p in ps]
        return (None if open_ else max(n for n, _ in got)), open_
    if isinstance(t, mi.ListType):
        n, open_ = largest(t.item_type)
        if t.max_length is None:
            return None, ["$[]"] + [p.replace("$", "$[]", 1) for p in open_]
        if n is None:
            return None, [p.replace("$", "$[]", 1) for p in open_]
        return 2 + t.max_length * n + max(t.max_length - 1, 0), []
    if isinstance(t, mi.StructType):
        total, open_ = 2 + max(len(t.fields) - 1, 0), []
        for f in t.fields:
            n, ps = largest(f.type)
            open_ += [p.replace("$", f"$.{f.encode_name}", 1) for p in ps]
            if n is not None:
                total += n + (0 if t.array_like else len(msgspec.json.encode(f.encode_name)) + 1)
        return (None if open_ else total), open_
    return None, ["$"]  # a type the contract's values do not use


LONG_TEXT = 100  # strings allowed this many characters or more are named in the sizes table


def _bulk(t, path: str = "$") -> list[str]:
    """What makes a value of ``t`` large: its bounded lists and long strings, with limits."""
    if isinstance(t, type):
        t = mi.type_info(t)
    if isinstance(t, mi.Metadata):
        return _bulk(t.type, path)
    if isinstance(t, mi.StructType):
        return [s for f in t.fields for s in _bulk(f.type, f"{path}.{f.encode_name}")]
    if isinstance(t, mi.UnionType):
        return [s for u in t.types for s in _bulk(u, path)]
    if isinstance(t, mi.ListType) and t.max_length is not None:
        n, _ = largest(t.item_type)
        if n is not None:
            return [f"`{path}`: at most {t.max_length:,} items of at most {n:,} bytes"]
    if isinstance(t, mi.StrType) and (t.max_length or 0) >= LONG_TEXT:
        n, _ = largest(t)
        return [f"`{path}`: at most {t.max_length:,} characters ({n:,} bytes)"]
    return []


def sizes_table() -> str:
    """The ``sizes`` block: the largest value of each topic and what bounds it."""
    rows = ["| topic | value | largest value (bytes) | bounded by |", "|---|---|---|---|"]
    for topic, struct in topic_structs().items():
        n, open_ = largest(struct)
        if n is None:
            size = "no bound"
            why = "no length limit on " + ", ".join(f"`{p}`" for p in open_)
        else:
            size = f"{n:,}"
            why = "; ".join(_bulk(struct)) or "the fields' limits"
        rows.append(f"| `{topic}` | `{struct.__name__}` | {size} | {why} |")
    return "\n".join(rows)


def blocks() -> dict[str, str]:
    """Generated text per block name: each topic's JSON Schema, the examples, the sizes."""
    out = {}
    for struct in [*topic_structs().values(), schemas.Tick]:  # a tick shares case-events
        schema = msgspec.json.schema(struct)
        out[f"{struct.__name__}.schema"] = ("```json\n" + json.dumps(schema, indent=2, ensure_ascii=False)
                                            + "\n```")
    for name, example in EXAMPLES.items():
        ex = json.loads(schemas.encode(example))
        out[f"{name}.example"] = "```json\n" + json.dumps(ex, indent=2, ensure_ascii=False) + "\n```"
    out["sizes"] = sizes_table()
    return out


# A body never spans another block's start, so an empty block cannot swallow the next.
PATTERN = re.compile(r"(<!-- generated:(?P<name>[\w.]+) -->\n)(?P<body>(?:(?!<!-- generated:).)*?)"
                     r"(<!-- /generated -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block refreshed."""
    gen = blocks()
    return PATTERN.sub(lambda m: m.group(1) + gen[m.group("name")] + "\n" + m.group(4), text)


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"refreshed {DOC}")
