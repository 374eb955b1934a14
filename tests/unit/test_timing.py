"""Server time per callback (dashboard/timing.py): names, percentiles, clearing, the route."""

from __future__ import annotations

import pytest
from flask import Flask

from dashboard.timing import CallbackTimes, callback_name, install


@pytest.mark.parametrize("body, name", [
    ({"output": "live.data"}, "live"),
    ({"output": "..live.data...case-cursor.data.."}, "live"),
    ({"output": "page.children"}, "page"),
    ({}, "?"),
    (None, "?"),
])
def test_callback_name_is_the_first_output(body, name):
    assert callback_name(body) == name


def test_summary_percentiles_and_clear():
    t = CallbackTimes(keep=100)
    for ms in range(1, 101):  # 1..100 ms
        t.record("live", float(ms), ms / 10, ms * 10)
    t.record("positions", 500.0, 50.0, 80_000)
    s = t.summary()
    live = s["callbacks"]["live"]
    assert live["n"] == 100 and live["server_ms"] == {"p50": 51.0, "p95": 95.0, "max": 100.0}
    assert live["cpu_ms"]["max"] == 10.0 and live["bytes"]["p95"] == 950
    assert s["all"]["n"] == 101 and s["all"]["server_ms"]["max"] == 500.0
    t.record("live", 1.0, 0.1, 1)  # keep=100: the oldest goes
    assert t.summary()["callbacks"]["live"]["n"] == 100
    t.clear()
    assert t.summary() == {"callbacks": {}, "all": {"n": 0, **{k: {"p50": 0.0, "p95": 0.0, "max": 0}
                                                               for k in ("server_ms", "cpu_ms", "bytes")}}}


def test_installed_hooks_time_dash_updates_only():
    app = Flask(__name__)
    times = CallbackTimes()
    install(app, times)

    @app.post("/_dash-update-component")
    def _update():
        return {"response": {"x": 1}}

    @app.get("/other")
    def _other():
        return "x"

    c = app.test_client()
    assert c.post("/_dash-update-component", json={"output": "live.data"}).status_code == 200
    assert c.get("/other").status_code == 200
    got = c.get("/api/timing").get_json()
    assert list(got["callbacks"]) == ["live"] and got["callbacks"]["live"]["n"] == 1
    assert got["callbacks"]["live"]["bytes"]["max"] > 0
    assert c.delete("/api/timing").get_json()["all"]["n"] == 0
