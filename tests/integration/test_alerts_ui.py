"""Alerts on screen end to end: a real broker and worker, the dashboard app, Chromium.

Alerts are produced to Kafka, the worker puts them on the board; ``/alerts`` is open in
two browser pages; acknowledging one in page 1 (name and comment) POSTs
``/api/alerts/<id>/ack``, which writes an AlertAck to Kafka; the worker applies it and
page 2 shows it as acknowledged (who, comment) on its next refresh. The API's answers
(list, filters, validation, 202/400/404/503) are checked on the same board.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from werkzeug.serving import make_server

from gridpulse.alert_views import AlertBoard
from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import free_port
from gridpulse.schemas import Alert, encode
from tests.browser import launch_chromium, non_local_requests

from .pipeline import WorkerProcess, _send_raw, isolated_settings
from .test_alert_board import LIN, T, _wait

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
OUT = Path(__file__).resolve().parents[2] / "test-output"


def _http(method: str, url: str, body: dict | bytes | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_ack_in_one_page_shows_in_the_other(kafka_bootstrap, redis_url, topic_prefix):
    from dashboard.app import create_app

    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix, timezone="Asia/Shanghai",
                          dash_host="127.0.0.1", dash_port=free_port())
    worker = WorkerProcess(s)
    board = AlertBoard(redis.Redis.from_url(redis_url), Keys(s.redis_prefix))
    alerts = [
        Alert(id="C1:handled:1795743900000:overdue", kind="overdue", ts=T, case="C1",
              stage="handled", deadline=T, severity=2, category="sanitation", **LIN),
        Alert(id="C2:dispatch:1795743900000:warning", kind="warning", ts=T + 1000, case="C2",
              stage="registered", severity=3, category="facility", **LIN),
        Alert(id="silent:T00001:1795750000000", kind="silent_terminal", ts=T + 2000,
              terminal="T00001", worker="W00001", **LIN),
    ]
    target = alerts[0].id
    server = thread = None
    try:
        asyncio.run(_send_raw(s, [("alerts", a.id.encode(), encode(a)) for a in alerts]))
        _wait(lambda: len(board.latest(10)) == 3, worker)

        app = create_app(s, redis_url)
        server = make_server("127.0.0.1", s.dash_port, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{s.dash_port}"

        # GET /api/alerts: AlertBoard.latest, newest first, with filters.
        code, doc = _http("GET", f"{base}/api/alerts")
        assert code == 200 and [a["id"] for a in doc["alerts"]] == [a.id for a in reversed(alerts)]
        assert all(a["status"] == "open" and a["acks"] == [] for a in doc["alerts"])
        code, doc = _http("GET", f"{base}/api/alerts?kind=overdue,warning&area=330203&limit=1")
        assert code == 200 and [a["id"] for a in doc["alerts"]] == [alerts[1].id]
        for query, field in (("kind=nope", "kind"), ("status=closed", "status"), ("area=999999", "area"),
                             ("limit=0", "limit")):
            code, doc = _http("GET", f"{base}/api/alerts?{query}")
            assert (code, doc["field"]) == (400, field), (query, doc)
        # POST validation: unknown alert 404, bad body 400 naming the field.
        code, doc = _http("POST", f"{base}/api/alerts/no-such-alert/ack", {"by": "x"})
        assert (code, doc["field"]) == (404, "alert") and "no-such-alert" in doc["error"]
        for body, field in (({"comment": "x"}, "by"), ({"by": "  "}, "by"), ({"by": "x" * 65}, "by"),
                            ({"by": "王芳", "comment": 5}, "comment"),
                            ({"by": "王芳", "comment": "c" * 501}, "comment"), (b"not json", "body")):
            code, doc = _http("POST", f"{base}/api/alerts/{target}/ack", body)
            assert (code, doc["field"]) == (400, field), (body, doc)
        # Without a broker the POST says which setting is missing.
        offline = create_app(s.replace(kafka_bootstrap=""), redis_url).server.test_client()
        resp = offline.post(f"/api/alerts/{target}/ack", json={"by": "王芳"})
        assert resp.status_code == 503 and resp.get_json()["field"] == "KAFKA_BOOTSTRAP"
        assert board.get(target)["acks"] == []  # nothing was written by the refusals

        errors: list[str] = []
        requests: list[str] = []
        OUT.mkdir(exist_ok=True)
        with launch_chromium() as browser:
            pages = [browser.new_page(viewport={"width": 1920, "height": 1080}) for _ in range(2)]
            for p in pages:
                p.on("pageerror", lambda exc: errors.append(str(exc)))
                p.on("request", lambda req: requests.append(req.url))
                p.goto(base + "/alerts")
                p.wait_for_selector(f'tr[data-alert="{target}"][data-status="open"]', timeout=30_000)
            p1, p2 = pages
            assert p2.locator("tr.al-tr").count() == 3
            # The list is redrawn on every refresh, so a row's button is never "stable" for
            # Playwright's actionability checks: click it from inside the page instead.
            p1.eval_on_selector(f'.ack-open[data-alert="{target}"]', "el => el.click()")
            p1.wait_for_selector("#ack-dialog:not(.hidden)")
            p1.click("#ack-send")  # no name yet: refused in the page, nothing sent
            assert p1.inner_text("#ack-error").strip()
            p1.fill("#ack-by", "王芳 (海曙区指挥中心)")
            p1.fill("#ack-comment", "已电话督办处置部门")
            t0 = time.monotonic()
            p1.click("#ack-send")
            p1.wait_for_selector("#ack-dialog.hidden", state="attached", timeout=30_000)
            acked = f'tr[data-alert="{target}"][data-status="acked"]'
            p2.wait_for_selector(acked, timeout=60_000)
            shown_after = time.monotonic() - t0
            row = p2.inner_text(acked)
            assert "王芳 (海曙区指挥中心)" in row and "已电话督办处置部门" in row and "已确认" in row
            p1.wait_for_selector(acked, timeout=30_000)
            # The others are untouched.
            assert p2.locator('tr[data-status="open"]').count() == 2
            p2.screenshot(path=str(OUT / "alerts.png"))
        print(f"ack shown on the other page after {shown_after:.1f}s")
        assert not errors, errors
        assert not non_local_requests(requests)

        code, doc = _http("GET", f"{base}/api/alerts?status=acked")
        assert code == 200 and [a["id"] for a in doc["alerts"]] == [target]
        (ack,) = doc["alerts"][0]["acks"]
        assert (ack["by"], ack["comment"], ack["alert"]) == ("王芳 (海曙区指挥中心)", "已电话督办处置部门", target)
        assert ack["id"].startswith("ack-")
        # A second acknowledgement through the API: 202 with its id, on the board next.
        code, doc = _http("POST", f"{base}/api/alerts/{target}/ack", {"by": "李明"})
        assert code == 202 and doc["id"].startswith("ack-") and doc["id"] != ack["id"]
        _wait(lambda: len(board.get(target)["acks"]) == 2, worker)
        assert [a["by"] for a in board.get(target)["acks"]][-1] == "李明"
        assert worker.alive()
    finally:
        if server is not None:
            server.shutdown()
            thread.join(timeout=10)
        worker.stop()
