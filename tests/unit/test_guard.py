"""The dashboard's edge (dashboard/guard.py) and the callbacks' checks (dashboard/checks.py),
on a small Dash app: envelopes Dash's renderer sends pass, forged ones name the field,
forged values are 400, the body cap is 413, unknown bundles are 404."""

from __future__ import annotations

import dash
import pytest
from dash import ALL, Input, Output, State, dcc, html

from dashboard import guard
from dashboard.checks import (Invalid, accepts, choice, count, flag, integer, matches, record, subset,
                              text)


def _app(max_body: int = 2048) -> dash.Dash:
    app = dash.Dash(__name__)
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page"), dcc.Store(id="s"),
                           dcc.Store(id="t")])

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    @accepts(text(), text())
    def _page(path, search):
        return f"{path}{search}"

    @app.callback(Output("s", "data"), Output("t", "data"), Input({"type": "b", "i": ALL}, "n_clicks"),
                  State("s", "data"))
    @accepts(lambda v: None, record(("k",), k=choice(("a", "b")), on=flag))
    def _multi(clicks, store):
        return store, len(clicks or [])

    app.clientside_callback("function(x) { return x; }", Output("t", "modified_timestamp"),
                            Input("t", "data"))
    guard.install(app, max_body)
    return app


PAGE = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": "/wall"}],
        "changedPropIds": ["url.pathname"], "state": [{"id": "url", "property": "search", "value": ""}]}
MULTI_KEY = "..s.data...t.data.."
MULTI = {"output": MULTI_KEY, "outputs": [{"id": "s", "property": "data"}, {"id": "t", "property": "data"}],
         "inputs": [[{"id": {"i": 1, "type": "b"}, "property": "n_clicks", "value": 2}]],
         "changedPropIds": ['{"i":1,"type":"b"}.n_clicks'],
         "state": [{"id": "s", "property": "data", "value": {"k": "a"}}]}


@pytest.fixture(scope="module")
def app():
    return _app()


def test_renderer_envelopes_pass(app):
    assert guard.envelope_error(PAGE, app.callback_map) is None
    assert guard.envelope_error(MULTI, app.callback_map) is None
    assert guard.envelope_error({**MULTI, "inputs": [[]], "changedPropIds": []}, app.callback_map) is None
    # No "value" (undefined in the browser) and extra keys the server does not read.
    page = {**PAGE, "inputs": [{"id": "url", "property": "pathname"}], "parsedChangedPropsIds": ["x"]}
    assert guard.envelope_error(page, app.callback_map) is None


@pytest.mark.parametrize("body, field", [
    ([PAGE], "body"), ("x", "body"), (None, "body"),
    ({**PAGE, "output": 3}, "output"), ({**PAGE, "output": "nope.x"}, "output"),
    ({**PAGE, "output": "t.modified_timestamp"}, "output"),  # clientside only
    ({**PAGE, "outputs": [{"id": "page", "property": "children"}]}, "outputs"),
    ({**PAGE, "outputs": {"id": "page", "property": "title"}}, "outputs"),
    ({**MULTI, "outputs": [{"id": "s", "property": "data"}]}, "outputs"),
    ({**MULTI, "outputs": [{"id": "t", "property": "data"}, {"id": "s", "property": "data"}]}, "outputs"),
    ({**PAGE, "inputs": []}, "inputs"), ({**PAGE, "inputs": {"id": "url"}}, "inputs"),
    ({**PAGE, "inputs": [{"id": "url", "property": "hash", "value": "/"}]}, "inputs"),
    ({**PAGE, "inputs": [{"id": {"a": 1}, "property": "pathname", "value": "/"}]}, "inputs"),
    ({**MULTI, "inputs": [[{"id": {"i": 1, "type": "c"}, "property": "n_clicks"}]]}, "inputs"),
    ({**MULTI, "inputs": [[{"id": {"i": [1], "type": "b"}, "property": "n_clicks"}]]}, "inputs"),
    ({**MULTI, "inputs": [[{"id": {"type": "b"}, "property": "n_clicks"}]]}, "inputs"),
    ({**PAGE, "state": None}, "state"), ({k: v for k, v in PAGE.items() if k != "state"}, "state"),
    ({**PAGE, "state": PAGE["state"] * 2}, "state"),
    ({**PAGE, "changedPropIds": "url.pathname"}, "changedPropIds"),
    ({**PAGE, "changedPropIds": ["url.search"]}, "changedPropIds"),
])
def test_forged_envelopes_name_the_field(app, body, field):
    assert guard.envelope_error(body, app.callback_map)[0] == field


def test_the_edge_answers_json(app):
    c = app.server.test_client()
    assert c.get("/").status_code == 200
    assert c.post("/_dash-update-component", json=PAGE).status_code == 200
    resp = c.post("/_dash-update-component", json=[PAGE])
    assert resp.status_code == 400 and resp.get_json()["field"] == "body"
    # A forged value: 400 naming the component property, the callback never runs.
    resp = c.post("/_dash-update-component",
                  json={**MULTI, "state": [{"id": "s", "property": "data", "value": {"k": "z"}}]})
    assert resp.status_code == 400 and resp.get_json()["field"] == "s.data"
    assert "k:" in resp.get_json()["error"]
    resp = c.post("/_dash-update-component", data=b"[" * 100 + b"]" * 100, content_type="application/json")
    assert resp.status_code == 400
    resp = c.post("/_dash-update-component", data=b"x" * 2049, content_type="application/json")
    assert resp.status_code == 413 and resp.get_json()["field"] == "body"
    resp = c.get("/_dash-component-suites/dash/nope.js")
    assert resp.status_code == 404 and resp.get_json()["field"] == "path"


def test_refusals_are_logged_rarely(app, caplog):
    c = app.server.test_client()
    c.get("/")
    with caplog.at_level("INFO", logger="dashboard.guard"):
        for _ in range(50):
            c.post("/_dash-update-component", json=[1])
    lines = [r for r in caplog.records if r.name == "dashboard.guard"]
    assert len(lines) <= 1 and not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("check, good, bad", [
    (count, [None, 0, 7], [-1, 1.0, True, "1", 2 ** 60, float("nan")]),
    (flag, [None, True, False], [0, "true", []]),
    (text(5), [None, "", "abcde"], ["abcdef", 5, ["a"], {"a": 1}]),
    (integer(0, 9), [None, 0, 9], [-1, 10, 1.5, False, "3"]),
    (choice(("a", 1)), [None, "a", 1], ["b", True, 1.0, ["a"], {"a": 1}]),
    (matches("[a-f]{2}", "two letters"), [None, "ab"], ["abc", "ab\n", "a", 12]),
    (subset(("x", "y")), [None, [], ["x"], ["y", "x"]], [["x", "x"], ["z"], "x", [1]]),
    (record(("k",), k=choice("ab"), n=count), [None, {"k": "a"}, {"k": "b", "n": 3}],
     [{}, {"k": None}, {"k": "c"}, {"k": "a", "z": 1}, {"k": "a", "n": -1}, ["k"], "k"]),
])
def test_checks(check, good, bad):
    for v in good:
        check(v)
    for v in bad:
        with pytest.raises(Invalid):
            check(v)
