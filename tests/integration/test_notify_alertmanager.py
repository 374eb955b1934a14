"""Against a real Alertmanager (Debian's prometheus-alertmanager 0.25, started here on a
free loopback port; `make test` installs it, scripts/ensure_alertmanager.sh):

- alerts sent through gridpulse's ``alertmanager`` receiver show in its
  ``/api/v2/alerts`` with gridpulse's labels;
- the same alert, routed by that Alertmanager to the recording receiver, arrives in a
  body of the same shape as gridpulse's own generic webhook: the same fields at the top
  and per alert, the same labels, the same fingerprint.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request

import pytest

from gridpulse.clock import now_ms
from gridpulse.runtime.broker import free_port

from .notifying import NotifierProcess, Receiver, wait_for
from .pipeline import OUT, isolated_settings
from .test_notify import SECRET, _send_alerts, live_alert

pytestmark = pytest.mark.integration
AM = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


@pytest.fixture
def alertmanager(tmp_path):
    if not shutil.which(AM):
        pytest.skip("Debian's prometheus-alertmanager is not installed and could not be "
                    "(scripts/ensure_alertmanager.sh, run by `make test`)")
    rcv = Receiver(tmp_path / "from-am.jsonl")
    port = free_port()
    cfg = tmp_path / "am.yml"
    cfg.write_text(f"""
route:
  receiver: rec
  group_by: [case]
  group_wait: 1s
  group_interval: 5s
receivers:
  - name: rec
    webhook_configs:
      - url: {rcv.url}/from-am
        send_resolved: true
""", encoding="utf-8")
    OUT.mkdir(exist_ok=True)
    log = open(OUT / f"alertmanager-{port}.log", "wb")
    proc = subprocess.Popen([AM, f"--config.file={cfg}", f"--storage.path={tmp_path / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=1).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (OUT / f"alertmanager-{port}.log").read_text()
            time.sleep(0.2)
    try:
        yield url, rcv
    finally:
        proc.terminate()
        proc.wait(20)
        rcv.stop()


def _am_alerts(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=10) as resp:
        return json.loads(resp.read())


def test_alerts_reach_a_real_alertmanager_and_its_webhook_has_our_shape(alertmanager, kafka_bootstrap, redis_url,
                                                                         topic_prefix, tmp_path):
    am_url, rcv = alertmanager
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    doc = {"global": {"allowlist": [rcv.url + "/", am_url + "/"], "external_url": "http://wall.example"},
           "receivers": [{"name": "hook", "webhook": {"url": rcv.url + "/hook", "secret_env": "GP_TEST_SECRET"}},
                         {"name": "am", "alertmanager": {"url": am_url + "/api/v2/alerts"}}],
           "route": {"receiver": "hook", "group_by": ["case"], "group_wait": "0s",
                     "routes": [{"matchers": ['kind="overdue"'], "receiver": "am", "continue": True},
                                {"matchers": ['kind="overdue"'], "receiver": "hook"}]}}
    (tmp_path / "notify.yaml").write_text(json.dumps(doc), encoding="utf-8")
    s = s.replace(notify_config=str(tmp_path / "notify.yaml"))
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    a = live_alert(7, now_ms() - 61_000)
    try:
        _send_alerts(s, [a])
        wait_for(lambda: any(x["labels"].get("id") == a.id for x in _am_alerts(am_url)), notifier,
                 what="the alert in Alertmanager")
        (got,) = [x for x in _am_alerts(am_url) if x["labels"]["id"] == a.id]
        assert got["labels"] | {"kind": "overdue", "case": a.case, "district": "330203", "severity": "3",
                                "alertname": "gridpulse_overdue", "clock": "handle"} == got["labels"]
        assert got["annotations"]["case_url"] == f"http://wall.example/case/{a.case}"
        wait_for(lambda: rcv.requests("/from-am") and rcv.requests("/hook"), notifier,
                 what="both webhooks (Alertmanager's and ours)")
        theirs, ours = rcv.requests("/from-am")[0]["json"], rcv.requests("/hook")[0]["json"]
        assert set(theirs) == set(ours), (sorted(theirs), sorted(ours))
        assert set(theirs["alerts"][0]) == set(ours["alerts"][0])
        assert theirs["alerts"][0]["labels"] == ours["alerts"][0]["labels"]
        assert theirs["alerts"][0]["fingerprint"] == ours["alerts"][0]["fingerprint"]
        assert theirs["alerts"][0]["annotations"] == ours["alerts"][0]["annotations"]
        assert theirs["version"] == ours["version"] == "4"
        assert theirs["status"] == ours["status"] == "firing"
        assert theirs["alerts"][0]["endsAt"] == ours["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        assert theirs["alerts"][0]["startsAt"][:19] == ours["alerts"][0]["startsAt"][:19]
    finally:
        notifier.stop()
