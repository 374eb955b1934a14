"""The alerts board: alerts and acknowledgements travel through Kafka into Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from gridpulse.alert_views import AlertBoard
from gridpulse.rkeys import Keys
from gridpulse.schemas import Alert, AlertAck, decode_deadletter, encode

from .pipeline import WorkerProcess, _read_topic, _send_raw, isolated_settings

pytestmark = pytest.mark.integration

T = 1_795_750_200_000
LIN = dict(grid="330203001001003", community="330203001001", town="330203001", district="330203",
           city="330200")


def _wait(pred, worker, timeout=120.0):
    deadline = time.monotonic() + timeout  # a hang guard, not a performance bound
    while not pred():
        assert worker.alive(), worker.log()[-3000:]
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.2)


def test_alerts_and_acks_reach_the_board_idempotently(kafka_bootstrap, redis_url, topic_prefix):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    worker = WorkerProcess(s)
    board = AlertBoard(redis.Redis.from_url(redis_url), Keys(s.redis_prefix))
    try:
        overdue = Alert(id="C1:handled:overdue", kind="overdue", ts=T, case="C1", stage="handled", **LIN)
        silent = Alert(id="silent:T00001:1795750000000", kind="silent_terminal", ts=T + 1,
                       terminal="T00001", worker="W00001", **LIN)
        ack = AlertAck(id="ack-1", alert=silent.id, by="李明", at=T + 60_000, comment="已联系")
        items = [("alert-acks", ack.alert.encode(), encode(ack)),  # an ack before its alert
                 ("alerts", overdue.id.encode(), encode(overdue)),
                 ("alerts", silent.id.encode(), encode(silent)),
                 ("alerts", silent.id.encode(), encode(silent)),  # sent twice after a crash
                 ("alert-acks", ack.alert.encode(), encode(ack)),
                 ("alert-acks", b"x", b'{"v":1,"id":"ack-2","alert":"x","at":1795750200000}')]
        asyncio.run(_send_raw(s, items))
        _wait(lambda: len(board.latest(10)) == 2 and board.get(silent.id)["acks"], worker)
        got = {a["id"]: a for a in board.latest(10)}
        assert got[silent.id]["status"] == "acked"
        assert [(a["by"], a["comment"]) for a in got[silent.id]["acks"]] == [("李明", "已联系")]
        assert got[overdue.id]["status"] == "open"
        assert [a["id"] for a in board.latest(10, area="330203001001003", kinds={"overdue"})] == [overdue.id]
        resolved = Alert(id="C1:resolved", kind="resolved", ts=T + 120_000, case="C1", **LIN)
        asyncio.run(_send_raw(s, [("alerts", resolved.id.encode(), encode(resolved))]))
        _wait(lambda: board.get(overdue.id)["status"] == "resolved", worker)
        assert [a["id"] for a in board.latest(10, status="open")] == []
        dead = [decode_deadletter(r.value) for r in asyncio.run(_read_topic(s, "deadletter"))]
        assert len(dead) == 1 and "by" in dead[0].reason and dead[0].topic == s.topic("alert-acks")
        assert worker.alive()
    finally:
        worker.stop()
