"""The alerts endpoints of the HTTP API (beside api.py's read-only ones):

- ``GET /api/alerts[?area=CODE&status=open|acked|resolved&kind=K[,K...]&limit=N]``:
  the newest alerts (AlertBoard.latest) with their acknowledgements and status;
- ``POST /api/alerts/<alert id>/ack`` with JSON ``{"by": name, "comment": text}``:
  acknowledge an alert. Validated (400 naming ``by``/``comment``/``body``; 404 naming
  ``alert`` for an id not on the board; 503 naming ``KAFKA_BOOTSTRAP`` when no broker is
  configured), written as an :class:`AlertAck` to the ``alert-acks`` topic (ack_sink.py)
  and answered 202 with the acknowledgement's id: the worker puts it on the board and
  every screen shows it on its next refresh.

Errors are ``{"error": message, "field": name}`` like the rest of the API.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import get_args

from flask import Blueprint, Flask, request

from gridpulse.alert_views import AlertBoard
from gridpulse.city import CityModel
from gridpulse.outage import is_outage
from gridpulse.schemas import AlertAck, AlertKind

from .ack_sink import AckSink, NoBroker
from .api import PREFIX, ApiError, RedisWatch, _int_arg, _json

log = logging.getLogger(__name__)
KINDS = get_args(AlertKind)
STATUSES = ("open", "acked", "resolved")
LIMIT = (1, 500)
BY_MAX, COMMENT_MAX = 64, 500  # = AlertAck's bounds


def _alert_id_ok(alert_id: str) -> bool:
    import re
    return bool(re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", alert_id))


def filters(city: CityModel, args) -> dict:
    """``area``, ``status`` and ``kinds`` from ``args`` (a mapping of strings; empty = not
    given); :class:`ApiError` 400 naming the bad one. The alerts page reads its URL with it."""
    area = args.get("area") or None
    if area is not None:
        try:
            city.area(area)
        except KeyError:
            raise ApiError(400, "area", f"unknown area code {area!r}") from None
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "status", f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    kinds = None
    if args.get("kind"):
        kinds = {k.strip() for k in args.get("kind").split(",") if k.strip()}
        bad = sorted(kinds - set(KINDS))
        if bad:
            raise ApiError(400, "kind", f"kind must be among {', '.join(KINDS)}, got {', '.join(bad)}")
    return {"area": area, "status": status, "kinds": kinds}


class AlertsApi:
    """The alerts endpoints over one board, city and acknowledgement sink."""

    def __init__(self, board: AlertBoard, city: CityModel, sink: AckSink, watch: RedisWatch) -> None:
        self.board, self.city, self.sink, self.watch = board, city, sink, watch

    def list(self) -> dict:
        f = filters(self.city, request.args)
        limit = _int_arg("limit", 50, LIMIT)
        fresh = self.watch.fresh()
        alerts = (self.board.latest(limit, area=f["area"], kinds=f["kinds"], status=f["status"])
                  if self.board.known(fresh) else None)
        return {"area": f["area"], "status": f["status"],
                "kind": sorted(f["kinds"]) if f["kinds"] else None, "limit": limit,
                "count": None if alerts is None else len(alerts), "alerts": alerts,
                "freshness": fresh.as_dict()}

    def ack(self, alert_id: str) -> tuple[dict, int]:
        if not _alert_id_ok(alert_id) or self.board.get(alert_id) is None:
            raise ApiError(404, "alert", f"unknown alert {alert_id!r}")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "body", 'the body must be a JSON object {"by": ..., "comment": ...}')
        by = body.get("by")
        if not isinstance(by, str) or not by.strip():
            raise ApiError(400, "by", "by (who acknowledges: a name and post) is required")
        by = by.strip()
        if len(by) > BY_MAX:
            raise ApiError(400, "by", f"by must be at most {BY_MAX} characters, got {len(by)}")
        comment = body.get("comment", "")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise ApiError(400, "comment", "comment must be a string")
        comment = comment.strip()
        if len(comment) > COMMENT_MAX:
            raise ApiError(400, "comment", f"comment must be at most {COMMENT_MAX} characters, "
                                           f"got {len(comment)}")
        if not self.sink.configured:
            raise ApiError(503, "KAFKA_BOOTSTRAP",
                           "KAFKA_BOOTSTRAP is empty: acknowledgements cannot be written")
        ack = AlertAck(id=f"ack-{uuid.uuid4().hex}", alert=alert_id, by=by,
                       at=int(time.time() * 1000), comment=comment)
        try:
            self.sink.send(ack)
        except NoBroker:
            raise ApiError(503, "KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP is empty") from None
        except Exception as exc:  # noqa: BLE001 - the broker's failure, named for the client
            if not is_outage(exc):  # an outage is logged once, by the sink (gridpulse/outage.py)
                log.exception("alert ack to Kafka failed")
            raise ApiError(503, "kafka", f"writing the acknowledgement to Kafka failed: {exc}") from None
        return {"id": ack.id, "alert": alert_id, "by": by, "comment": comment, "at": ack.at,
                "topic": self.sink.topic}, 202


def register(server: Flask, board: AlertBoard, city: CityModel, sink: AckSink,
             watch: RedisWatch) -> AlertsApi:
    """Add ``GET /api/alerts`` and ``POST /api/alerts/<id>/ack`` to ``server``."""
    api = AlertsApi(board, city, sink, watch)
    bp = Blueprint("gridpulse_alerts_api", __name__, url_prefix=PREFIX)

    @bp.route("/alerts", methods=["GET"])
    def _alerts():
        return _json(api.list())

    @bp.route("/alerts/<path:alert_id>/ack", methods=["POST"])
    def _ack(alert_id: str):
        doc, status = api.ack(alert_id)
        return _json(doc, status)

    @bp.errorhandler(ApiError)
    def _refused(err: ApiError):
        return err.response()

    server.register_blueprint(bp)
    return api
