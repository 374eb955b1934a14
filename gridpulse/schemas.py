"""Wire schemas: the msgspec structs every topic carries (see docs/contract.md).

Every message has ``v``, the schema version, so the format can evolve: a consumer
accepts the versions it knows and dead-letters the others. Times are event times in
epoch milliseconds (UTC); positions are WGS84 longitude/latitude.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from gridpulse.catalog import CATEGORIES, DEPARTMENTS

SCHEMA_VERSION = 1

Lon = Annotated[float, Meta(ge=73.0, le=136.0, description="WGS84 longitude (China's extent)")]
Lat = Annotated[float, Meta(ge=3.0, le=54.0, description="WGS84 latitude (China's extent)")]
EpochMs = Annotated[int, Meta(ge=946684800000, le=4102444800000, description="epoch ms, 2000-2100")]
Ident = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Code = Annotated[str, Meta(min_length=6, max_length=20, pattern=r"^[0-9]+$")]
Text = Annotated[str, Meta(max_length=2000)]

#: Stages and transitions a case event can carry (docs/contract.md, `case-events`).
Stage = Literal[
    "reported", "registered", "dispatched", "accepted", "handled", "verified",
    "closed", "evaluated", "returned", "reassigned", "escalated", "reopened",
]
STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]

# Checked at decode time, so a case the catalog (and so the SLA policy) does not know
# is dead-lettered with the field named instead of failing deep in the SLA code.
CategoryCode = Literal[tuple(CATEGORIES)]  # type: ignore[valid-type]
DeptCode = Literal[tuple(DEPARTMENTS)]  # type: ignore[valid-type]

#: Stages after which a case no longer counts as open.
TERMINAL_STAGES = frozenset({"closed", "evaluated"})


class CaseEvent(Struct, kw_only=True, omit_defaults=True):
    """One step of a case's closed loop; topic ``case-events``, keyed by ``case``."""

    v: Literal[1] = 1
    id: Ident
    case: Ident
    type: Stage
    ts: EpochMs
    grid: Code
    category: CategoryCode
    severity: Annotated[int, Meta(ge=1, le=4)]
    lon: Lon | None = None
    lat: Lat | None = None
    dept: DeptCode | None = None
    terminal: Ident | None = None
    actor: Ident | None = None
    note: Text | None = None
    reason: Text | None = None
    satisfaction: Annotated[int, Meta(ge=1, le=5)] | None = None


class Fix(Struct, array_like=True):
    """One GPS fix: ``[ts, lon, lat, accuracy_m]`` on the wire, to keep batches small."""

    ts: EpochMs
    lon: Lon
    lat: Lat
    acc: Annotated[float, Meta(ge=0.0, le=100000.0)]


class GpsBatch(Struct, kw_only=True, omit_defaults=True):
    """Fixes a terminal uploads at once; topic ``gps-fixes``, keyed by ``grid`` (its assigned grid)."""

    v: Literal[1] = 1
    id: Ident
    terminal: Ident
    worker: Ident
    grid: Code
    fixes: Annotated[list[Fix], Meta(min_length=1, max_length=1000)]


AlertKind = Literal["warning", "overdue", "escalation", "likely_breach", "resolved",
                    "off_grid", "silent_terminal", "silent_grid"]


class Alert(Struct, kw_only=True, omit_defaults=True):
    """Something a person must act on; topic ``alerts``, keyed by ``id`` (the dedupe key)."""

    v: Literal[1] = 1
    id: Ident
    kind: AlertKind
    ts: EpochMs
    case: Ident | None = None
    stage: Stage | None = None
    deadline: EpochMs | None = None
    grid: Code | None = None
    community: Code | None = None
    town: Code | None = None
    district: Code | None = None
    city: Code | None = None
    dept: str | None = None
    terminal: Ident | None = None
    worker: Ident | None = None
    severity: int | None = None
    category: str | None = None
    message: Text | None = None


class AlertAck(Struct, kw_only=True, omit_defaults=True):
    """Someone acknowledged an alert; topic ``alert-acks``, keyed by the alert's id."""

    v: Literal[1] = 1
    id: Ident  # of the acknowledgement itself (the dedupe key)
    alert: Ident
    by: Annotated[str, Meta(min_length=1, max_length=64)]
    at: EpochMs
    comment: Annotated[str, Meta(max_length=500)] = ""


MatchOp = Literal["=", "!=", "=~", "!~"]


class SilenceMatcher(Struct, kw_only=True):
    """One matcher of a silence: ``name`` (a label), ``op`` and ``value`` (a regex for
    ``=~``/``!~``, anchored at both ends as Alertmanager's are)."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    op: MatchOp = "="
    value: Annotated[str, Meta(max_length=256)] = ""


class Silence(Struct, kw_only=True, omit_defaults=True):
    """A silence: alerts its matchers all match are not notified between ``start`` and
    ``end``; topic ``silences`` (compacted), keyed by ``id``. Expiring one writes it
    again with ``end`` = the moment it was expired."""

    v: Literal[1] = 1
    id: Ident
    matchers: Annotated[list[SilenceMatcher], Meta(min_length=1, max_length=32)]
    start: EpochMs
    end: EpochMs
    creator: Annotated[str, Meta(min_length=1, max_length=64)]
    comment: Annotated[str, Meta(max_length=500)] = ""
    created: EpochMs  # wall clock, when it was first written
    updated: EpochMs  # wall clock, when this version was written (an expiry, an edit)


NotifyStatus = Literal["pending", "sent", "failed"]


class NotifiedAlert(Struct, kw_only=True, array_like=True):
    """One alert as a notification carried it: ``[id, fingerprint, status]``."""

    id: Ident
    fingerprint: Annotated[str, Meta(min_length=16, max_length=16)]
    status: Literal["firing", "resolved"]


class Notification(Struct, kw_only=True, omit_defaults=True):
    """One notification of the notifier and where its delivery stands; topic
    ``notify-log`` (compacted), keyed by ``key``, the idempotency key every attempt
    carries. Decided on event time (``at``), so a replayed day gives the same keys."""

    v: Literal[1] = 1
    key: Annotated[str, Meta(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
    receiver: Annotated[str, Meta(min_length=1, max_length=64)]
    group_key: Annotated[str, Meta(max_length=2000)]
    group_labels: dict[str, str] = {}
    at: EpochMs  # event time of the flush that decided it
    reason: Annotated[str, Meta(max_length=64)]
    alerts: Annotated[list[NotifiedAlert], Meta(max_length=100_000)]
    status: NotifyStatus = "pending"
    attempts: int = 0
    message: str = ""  # key of the request that carried it (robots merge several)
    decided: int = 0  # wall clock when first decided
    sent: int = 0  # wall clock of the 2xx (or of the final failure)
    latency_ms: int = 0  # from the newest alert's arrival at the notifier to the 2xx
    error: Annotated[str, Meta(max_length=1000)] = ""
    replica: str = ""
    body: bytes = b""  # while pending: the exact request body (a restart resends it)


class Tick(Struct, kw_only=True):
    """The city clock reached ``ts``; topic ``case-events``, written by the workers to a
    partition whose own events lag behind the others (docs/contract.md, "now")."""

    v: Literal[1] = 1
    type: Literal["tick"]
    ts: EpochMs


#: Most bytes of the original value a dead letter carries: base64 makes them 4/3 as
#: many, and the whole letter must stay under the producer's 1 MiB request limit.
DEAD_RAW_MAX = 512 * 1024
#: Longest original key a dead letter keeps as its own key (longer: ``sha256:<hex>``).
DEAD_KEY_MAX = 1024
#: Longest reason kept (a processing error's text can be long).
DEAD_REASON_MAX = 1000


class DeadLetter(Struct, kw_only=True):
    """A record the worker could not use; topic ``deadletter``, keyed like the original."""

    v: Literal[1] = 1
    topic: str
    partition: int
    offset: int
    reason: str
    raw: bytes  # the original value (its first DEAD_RAW_MAX bytes), base64 in JSON
    at: int  # processing time, epoch ms
    size: int = 0  # bytes of the whole original value (0 for a null value too)
    sha256: str = ""  # hex SHA-256 of the whole original value
    truncated: bool = False  # raw holds only the first DEAD_RAW_MAX bytes


def dead_letter(topic: str, partition: int, offset: int, reason: str, raw: bytes | None,
                at: int) -> DeadLetter:
    """A dead letter that always fits a Kafka request, however large the original."""
    raw = raw or b""
    return DeadLetter(topic=topic, partition=partition, offset=offset,
                      reason=reason[:DEAD_REASON_MAX], raw=raw[:DEAD_RAW_MAX], at=at,
                      size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                      truncated=len(raw) > DEAD_RAW_MAX)


def dead_key(key: bytes | None) -> bytes | None:
    """The dead letter's Kafka key: the original's, or its hash when that is too long."""
    if key is not None and len(key) > DEAD_KEY_MAX:
        return b"sha256:" + hashlib.sha256(key).hexdigest().encode()
    return key


# The hot path's GPS decoder: the same fields and numeric checks without the regex
# patterns (msgspec runs one per string, ~3 µs a batch); decode_gps checks the three
# identifiers with one regex instead, and falls back to the strict decoder for the
# exact reason when anything is off.
_LooseIdent = Annotated[str, Meta(min_length=1, max_length=64)]


class _FastGps(Struct, kw_only=True):
    v: Literal[1] = 1
    id: _LooseIdent
    terminal: _LooseIdent
    worker: _LooseIdent
    grid: Annotated[str, Meta(min_length=6, max_length=20)]
    fixes: Annotated[list[Fix], Meta(min_length=1, max_length=1000)]


_ID = r"[A-Za-z0-9_.:\-]+"
_IDENTS = re.compile(rf"{_ID}\x00{_ID}\x00{_ID}")
_fast_gps = msgspec.json.Decoder(_FastGps)
_case_decoder = msgspec.json.Decoder(CaseEvent)
_gps_decoder = msgspec.json.Decoder(GpsBatch)
_alert_decoder = msgspec.json.Decoder(Alert)
_dead_decoder = msgspec.json.Decoder(DeadLetter)
_ack_decoder = msgspec.json.Decoder(AlertAck)
_tick_decoder = msgspec.json.Decoder(Tick)
_silence_decoder = msgspec.json.Decoder(Silence)
_notification_decoder = msgspec.json.Decoder(Notification)
_encoder = msgspec.json.Encoder()

DECODERS = {"case-events": _case_decoder, "gps-fixes": _gps_decoder,
            "alerts": _alert_decoder, "alert-acks": _ack_decoder, "deadletter": _dead_decoder,
            "silences": _silence_decoder, "notify-log": _notification_decoder}


def encode(obj: Struct) -> bytes:
    """JSON bytes of a wire struct."""
    return _encoder.encode(obj)


def decode_case(raw: bytes) -> CaseEvent:
    """Validate and decode a ``case-events`` value; raises ``msgspec.ValidationError``."""
    return _case_decoder.decode(raw)


def decode_gps(raw: bytes) -> GpsBatch:
    """Validate and decode a ``gps-fixes`` value; raises ``msgspec.ValidationError``.

    Accepts exactly what :class:`GpsBatch` accepts (a test holds the two to that).
    """
    try:
        b = _fast_gps.decode(raw)
    except msgspec.ValidationError:
        return _gps_decoder.decode(raw)  # raises the precise error
    if b.grid.isdigit() and b.grid.isascii() and _IDENTS.fullmatch(f"{b.id}\x00{b.terminal}\x00{b.worker}"):
        return GpsBatch(id=b.id, terminal=b.terminal, worker=b.worker, grid=b.grid, fixes=b.fixes)
    return _gps_decoder.decode(raw)  # raises the precise error


def decode_tick(raw: bytes) -> Tick:
    """Validate and decode a clock tick on ``case-events``."""
    return _tick_decoder.decode(raw)


def decode_alert(raw: bytes) -> Alert:
    """Validate and decode an ``alerts`` value."""
    return _alert_decoder.decode(raw)


def decode_ack(raw: bytes) -> AlertAck:
    """Validate and decode an ``alert-acks`` value."""
    return _ack_decoder.decode(raw)


def decode_silence(raw: bytes) -> Silence:
    """Validate and decode a ``silences`` value."""
    return _silence_decoder.decode(raw)


def decode_notification(raw: bytes) -> Notification:
    """Validate and decode a ``notify-log`` value."""
    return _notification_decoder.decode(raw)


def decode_deadletter(raw: bytes) -> DeadLetter:
    """Decode a ``deadletter`` value."""
    return _dead_decoder.decode(raw)


def json_schema(struct: type) -> dict:
    """The JSON Schema of a wire struct (docs/contract.md is checked against these)."""
    return msgspec.json.schema(struct)
