"""Silences and the notification log through the dashboard's API and page, and through
the CLI: written to Kafka, read back by `gridpulse silence ls`, refused with the field
named; receivers' secrets never appear."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import redis

from gridpulse.rkeys import Keys
from gridpulse.schemas import NotifiedAlert, Notification
from notify.commands import read_silences
from notify.store import Store

from .pipeline import env_of, isolated_settings

pytestmark = pytest.mark.integration
T = 1_795_750_200_000


def test_silences_and_notifications_api_page_and_cli(kafka_bootstrap, redis_url, topic_prefix):
    from dashboard.app import create_app
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    client = create_app(s, redis_url).server.test_client()
    for body, field in (({"creator": "x"}, "matchers"), ({"matchers": ['kind=~"("'], "creator": "x"}, "matchers[0]"),
                        ({"matchers": ['kind="overdue"']}, "creator"),
                        ({"matchers": ['kind=~".*"'], "creator": "x"}, "matchers"),
                        ({"matchers": ['kind="overdue"'], "creator": "x", "duration": "soon"}, "duration"),
                        ({"matchers": ['kind="overdue"'], "creator": "x", "end": 1}, "end")):
        resp = client.post("/api/silences", json=body)
        assert (resp.status_code, resp.get_json()["field"]) == (400, field), (body, resp.get_json())
    resp = client.post("/api/silences", json={"matchers": ['district="330203"', {"name": "kind", "op": "=~",
                                                                                  "value": "warning|likely_breach"}],
                                              "creator": "李明 (海曙区指挥中心)", "comment": "演练", "duration": "3h"})
    assert resp.status_code == 202, resp.get_json()
    sid = resp.get_json()["id"]
    assert [x["id"] for x in client.get("/api/silences").get_json()["silences"]] == [sid]
    assert sid in read_silences(s)  # on the topic, for every notifier replica
    page = client.get("/alerts")
    assert page.status_code == 200
    assert client.post(f"/api/silences/{sid}/expire").status_code == 202
    assert client.get("/api/silences").get_json()["silences"] == []
    assert client.get("/api/silences?all=true").get_json()["silences"][0]["state"] == "expired"
    assert client.post("/api/silences/nope/expire").get_json()["field"] == "silence"

    # The CLI: add, list, expire (a separate process, reading the topic itself).
    env = env_of(s)
    run = lambda *a: subprocess.run([sys.executable, "-m", "gridpulse.cli", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120)
    added = run("silence", "add", 'case="C1"', "--creator", "王芳", "--duration", "1h")
    assert added.returncode == 0, added.stderr
    cid = added.stdout.strip()
    assert cid in run("silence", "ls").stdout
    assert run("silence", "expire", cid).returncode == 0
    assert cid not in run("silence", "ls").stdout and cid in run("silence", "ls", "--all").stdout
    bad = run("silence", "add", 'kind=~".*"', "--creator", "x")
    assert bad.returncode != 0 and "would silence every alert" in bad.stderr

    # The notification log: per alert, through the API and `gridpulse notify log`.
    r = redis.Redis.from_url(redis_url)
    note = Notification(key="a" * 32, receiver="hook", group_key="{}:{}", at=T, reason="first_notification",
                        alerts=[NotifiedAlert(id="C1:handle:1:overdue", fingerprint="0" * 16, status="firing")],
                        status="sent", attempts=2, decided=T, sent=T + 900)

    async def mirror():
        import redis.asyncio as aioredis
        ar = aioredis.Redis.from_url(redis_url)
        await Store(ar, Keys(s.redis_prefix)).mirror([note], 7 * 86_400_000)
        await ar.aclose()
    asyncio.run(mirror())
    doc = client.get("/api/notifications?alert=C1:handle:1:overdue").get_json()
    assert [(n["key"], n["status"], n["attempts"]) for n in doc["notifications"]] == [("a" * 32, "sent", 2)]
    assert client.get("/api/notifications?status=bogus").get_json()["field"] == "status"
    out = run("notify", "log", "--alert", "C1:handle:1:overdue", "--json")
    assert json.loads(out.stdout.splitlines()[0])["key"] == "a" * 32
    assert r.exists(Keys(s.redis_prefix).notify_log())
