"""Server time per callback (dashboard/timing.py): names, percentiles, clearing, the route
(names from the app's callbacks only; clearing takes the admin token)."""

from __future__ import annotations

import pytest
from flask import Flask, request

from dashboard.timing import CallbackTimes, callback_name, install


@pytest.mark.parametrize("output, name", [
    ("live.data", "live"),
    ("..live.data...case-cursor.data..", "live"),
    ("page.children", "page"),
    ("", "?"),
])
def test_callback_name_is_the_first_output(output, name):
    assert callback_name(output) == name


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


CALLBACKS = {"live.data": {"callback": object()}, "..a.x...b.y..": {"callback": object()},
             "map.data": {}}  # a clientside callback: no server function


def _app(token: str = "") -> tuple[Flask, CallbackTimes]:
    app = Flask(__name__)
    times = CallbackTimes()
    install(app, times, CALLBACKS, token)

    @app.post("/_dash-update-component")
    def _update():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return {"error": "refused"}, 400
        return {"response": {"x": 1}}

    @app.get("/other")
    def _other():
        return "x"

    return app, times


def test_installed_hooks_time_dash_updates_only():
    app, _ = _app("secret")
    c = app.test_client()
    assert c.post("/_dash-update-component", json={"output": "live.data"}).status_code == 200
    assert c.get("/other").status_code == 200
    got = c.get("/api/timing").get_json()
    assert list(got["callbacks"]) == ["live"] and got["callbacks"]["live"]["n"] == 1
    assert got["callbacks"]["live"]["bytes"]["max"] > 0
    assert c.delete("/api/timing", headers={"Authorization": "Bearer secret"}).get_json()["all"]["n"] == 0


def test_only_the_apps_callbacks_are_named():
    app, _ = _app()
    c = app.test_client()
    for body in ({"output": "forged.data"}, {"output": "x" * 10_000}, {"output": "map.data"},
                 {"output": 5}, {}, [1, 2], "live.data"):
        c.post("/_dash-update-component", json=body)
    c.post("/_dash-update-component", json={"output": "..a.x...b.y.."})
    assert list(c.get("/api/timing").get_json()["callbacks"]) == ["a"]


@pytest.mark.parametrize("token, headers, status, field", [
    ("", {}, 403, "GRIDPULSE_ADMIN_TOKEN"),
    ("", {"Authorization": "Bearer "}, 403, "GRIDPULSE_ADMIN_TOKEN"),
    ("s3cret", {}, 401, "Authorization"),
    ("s3cret", {"Authorization": "s3cret"}, 401, "Authorization"),
    ("s3cret", {"Authorization": "Bearer s3cre"}, 403, "Authorization"),
    ("s3cret", {"Authorization": "Bearer 秘密"}, 403, "Authorization"),
])
def test_clearing_is_refused_without_the_admin_token(token, headers, status, field):
    app, times = _app(token)
    times.record("live", 1.0, 1.0, 1)
    resp = app.test_client().delete("/api/timing", headers=headers)
    assert resp.status_code == status and resp.get_json()["field"] == field
    assert times.summary()["all"]["n"] == 1


def test_clearing_with_the_admin_token():
    app, times = _app("s3cret")
    times.record("live", 1.0, 1.0, 1)
    resp = app.test_client().delete("/api/timing", headers={"Authorization": "bearer s3cret"})
    assert resp.status_code == 200 and times.summary()["all"]["n"] == 0
