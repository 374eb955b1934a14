"""The notifier's endpoints of the HTTP API (docs/contract.md, "Silences and notifications"):

- ``GET /api/silences[?all=true]``: the silences (active and pending; ``all``: expired too);
- ``POST /api/silences`` with JSON ``{"matchers": ["district=\\"330203\\"", ...] or
  [{"name", "op", "value"}], "creator", "comment", "duration": "2h" | "end": ms,
  "start": ms}``: create one (202); 400 naming the field at fault;
- ``POST /api/silences/<id>/expire``: end one now (202; 404 ``silence`` if unknown);
- ``GET /api/notifications?alert=ID|receiver=NAME|status=S[&limit=N]``: the notification
  log, newest first, without request bodies (receivers' URLs and secrets never appear).
"""

from __future__ import annotations

import logging
import time

import msgspec
import redis
from flask import Blueprint, Flask, request

from gridpulse.rkeys import Keys
from gridpulse.schemas import decode_silence
from notify import matchers as mt
from notify.commands import log_rows
from notify.fields import duration_ms
from notify.silences import expired, new_silence, state

from .ack_sink import NoBroker
from .api import PREFIX, ApiError, _int_arg, _json
from .notify_sink import SilenceSink

log = logging.getLogger(__name__)
STATUSES = ("pending", "sent", "failed")
MAX_MATCHERS = 32


def silences(r: redis.Redis, keys: Keys, include_expired: bool = False) -> list[dict]:
    """The silences in the notifier's mirror, newest start first, each with its ``state``."""
    now = int(time.time() * 1000)
    out = []
    for raw in r.hvals(keys.notify_silences()):
        s = decode_silence(raw)
        st = state(s, now)
        if include_expired or st != "expired":
            out.append(msgspec.to_builtins(msgspec.structs.asdict(s)) | {"state": st})
    return sorted(out, key=lambda s: (-s["start"], s["id"]))


def parse_silence(body, now: int):
    """A new Silence from a request body; :class:`ApiError` 400 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", 'the body must be a JSON object {"matchers": [...], "creator": ...}')
    raw = body.get("matchers")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MATCHERS:
        raise ApiError(400, "matchers", f"matchers must be a list of 1 to {MAX_MATCHERS} matchers")
    ms = []
    for i, m in enumerate(raw):
        try:
            if isinstance(m, str):
                ms.append(mt.parse(m))
            elif isinstance(m, dict):
                ms.append(mt.Matcher.make(str(m.get("name", "")), str(m.get("op", "=")), str(m.get("value", ""))))
            else:
                raise ValueError("expected a matcher string or {name, op, value}")
        except ValueError as exc:
            raise ApiError(400, f"matchers[{i}]", str(exc)) from None
    creator = body.get("creator")
    if not isinstance(creator, str) or not creator.strip() or len(creator.strip()) > 64:
        raise ApiError(400, "creator", "creator (who silences: a name and post, 1-64 characters) is required")
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 500:
        raise ApiError(400, "comment", "comment must be text of at most 500 characters")
    start = body.get("start", now)
    if isinstance(start, bool) or not isinstance(start, int):
        raise ApiError(400, "start", "start must be epoch milliseconds")
    if "end" in body:
        end = body["end"]
        if isinstance(end, bool) or not isinstance(end, int):
            raise ApiError(400, "end", "end must be epoch milliseconds")
    else:
        try:
            end = start + duration_ms(body.get("duration", "2h"))
        except ValueError as exc:
            raise ApiError(400, "duration", str(exc)) from None
    try:
        return new_silence(ms, start, end, creator, comment, now)
    except ValueError as exc:
        field, _, msg = str(exc).partition(": ")
        raise ApiError(400, field, msg) from None


def register(server: Flask, r: redis.Redis, keys: Keys, sink: SilenceSink) -> None:
    """Add the silences and notifications endpoints to ``server``."""
    bp = Blueprint("gridpulse_notify_api", __name__, url_prefix=PREFIX)

    def _write(sil) -> None:
        if not sink.configured:
            raise ApiError(503, "KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP is empty: silences cannot be written")
        try:
            sink.send(sil)
        except NoBroker:
            raise ApiError(503, "KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP is empty") from None
        except Exception as exc:  # noqa: BLE001 - the broker's failure, named for the client
            log.exception("silence to Kafka failed")
            raise ApiError(503, "kafka", f"writing the silence to Kafka failed: {exc}") from None

    @bp.route("/silences", methods=["GET"])
    def _list():
        every = request.args.get("all", "false")
        if every not in ("true", "false"):
            raise ApiError(400, "all", "all must be true or false")
        rows = silences(r, keys, every == "true")
        return _json({"count": len(rows), "silences": rows})

    @bp.route("/silences", methods=["POST"])
    def _add():
        sil = parse_silence(request.get_json(silent=True), int(time.time() * 1000))
        _write(sil)
        return _json(msgspec.to_builtins(msgspec.structs.asdict(sil)) | {"topic": sink.topic}, 202)

    @bp.route("/silences/<sid>/expire", methods=["POST"])
    def _expire(sid: str):
        raw = r.hget(keys.notify_silences(), sid) if len(sid) <= 64 else None
        if raw is None:
            raise ApiError(404, "silence", f"unknown silence {sid[:64]!r}")
        sil = expired(decode_silence(raw), int(time.time() * 1000))
        _write(sil)
        return _json(msgspec.to_builtins(msgspec.structs.asdict(sil)), 202)

    @bp.route("/notifications", methods=["GET"])
    def _notes():
        alert, receiver, status = (request.args.get(k) or None for k in ("alert", "receiver", "status"))
        if alert is not None and not (len(alert) <= 64):
            raise ApiError(400, "alert", "alert must be an alert id")
        if status is not None and status not in STATUSES:
            raise ApiError(400, "status", f"status must be one of {', '.join(STATUSES)}")
        limit = _int_arg("limit", 50, (1, 500))
        rows = log_rows(r, keys, alert, receiver, status, limit)
        return _json({"alert": alert, "receiver": receiver, "status": status, "count": len(rows),
                      "notifications": rows})

    @bp.errorhandler(ApiError)
    def _refused(err: ApiError):
        return _json({"error": err.message, "field": err.field}, err.status)

    server.register_blueprint(bp)
