"""The dashboard's edge: what a request must be before Flask or Dash reads it.

- **Body size**: at most ``max_body`` bytes (``GRIDPULSE_DASH_MAX_BODY_BYTES``), checked
  on the declared length before anything reads the body, and by Flask's
  ``MAX_CONTENT_LENGTH`` while reading one that declares none (chunked): 413.
- **Dash callbacks** (``POST /_dash-update-component``): the envelope must be what
  Dash's renderer sends for a server callback the app defines (:func:`envelope_error`),
  else 400 before Dash dispatches. The values inside are each callback's to check
  (checks.py); the :class:`checks.Refused` they raise is answered 400 here.
- **Dash's bundles** (``/_dash-component-suites/<package>/<file>``): a file Dash has not
  registered is 404 (Dash itself raises, a 500 with a traceback).

Every refusal is ``{"error": message, "field": name}`` like the JSON API's, and one log
line at most every few seconds (with the count since the last one): a flood of forged
requests must cost neither disk nor CPU for tracebacks.
"""

from __future__ import annotations

import json
import logging
import reprlib
import threading
import time
from functools import lru_cache
from typing import Any, Mapping

from dash.fingerprint import check_fingerprint
from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from .api import _json
from .checks import Refused

log = logging.getLogger(__name__)
UPDATE = "_dash-update-component"
SUITES = "_dash-component-suites/"
LOG_EVERY_S = 10.0
_short = reprlib.Repr()  # depth- and length-bounded: a forged value may nest 900 deep
_short.maxstring = _short.maxother = 60


def waitress_body_limit(max_body: int) -> int:
    """waitress's ``max_request_body_size`` for a cap of ``max_body`` bytes.

    waitress buffers a whole body before the app sees it and refuses a larger one itself,
    with a plain-text 413 and without reading it. Twice the cap bounds that buffer while
    a body just over the cap still reaches Flask and gets the JSON 413."""
    return 2 * max_body


class _RefusalLog:
    """At most one log line per ``every_s``, counting the refusals it stands for."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s, self._lock = every_s, threading.Lock()
        self._last, self._unlogged = float("-inf"), 0

    def note(self, status: int, field: str, message: str) -> None:
        with self._lock:
            self._unlogged += 1
            now = time.monotonic()
            if now - self._last < self.every_s:
                return
            n, self._unlogged, self._last = self._unlogged, 0, now
        log.info("refused %s %s: %d %s: %s (%d refused since the last such line)",
                 request.method, _short.repr(request.path), status, field, message[:200], n)


def _refuse(refusals: _RefusalLog, status: int, field: str, message: str):
    refusals.note(status, field, message)
    return _json({"error": message, "field": field}, status)


# -- the callback envelope --------------------------------------------------------------
@lru_cache(maxsize=256)
def _pattern(declared: str) -> dict | None:
    """A pattern-matching id's keys and values (wildcards are lists like ``["ALL"]``)."""
    try:
        got = json.loads(declared)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def _id_fits(declared: str, got: Any) -> bool:
    """Whether a component id sent by the browser is the declared one (a string id), or
    fits the declared dict id, wildcards included."""
    if isinstance(got, str):
        return got == declared
    want = _pattern(declared) if declared.startswith("{") else None
    if not isinstance(got, dict) or want is None or set(got) != set(want):
        return False
    return all(isinstance(v, (str, int, float, bool)) and (isinstance(want[k], list) or v == want[k])
               for k, v in got.items())


def _dep_error(where: str, declared_id: str, declared_prop: str, got: Any) -> str | None:
    """What is wrong with one ``{id, property, value}`` of the request, or None."""
    entries = got if isinstance(got, list) and declared_id.startswith("{") else [got]
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("property"), str) or "id" not in e:
            return f"{where} must be an object {{id, property, value}}"
        # Outputs declared with allow_duplicate carry "@<hash>" in the map, not on the wire.
        if not _id_fits(declared_id, e["id"]) or e["property"] != declared_prop.split("@")[0]:
            return (f"{where} must be {declared_id}.{declared_prop}, got "
                    f"{_short.repr(e['id'])}.{_short.repr(e['property'])}")
    return None


def _deps_error(field: str, declared: list[dict], got: Any) -> tuple[str, str] | None:
    if not isinstance(got, list) or len(got) != len(declared):
        return field, f"{field} must be a list of {len(declared)} objects {{id, property, value}}"
    for i, (want, entry) in enumerate(zip(declared, got)):
        err = _dep_error(f"{field}[{i}]", want["id"], want["property"], entry)
        if err:
            return field, err
    return None


def envelope_error(body: Any, callbacks: Mapping[str, dict]) -> tuple[str, str] | None:
    """``(field, message)`` of the first thing wrong with a callback request ``body``, or
    None if it is the envelope of a server callback in ``callbacks`` (Dash's callback map):
    ``output`` a callback it defines, ``outputs``, ``inputs`` and ``state`` its declared
    component properties in order, ``changedPropIds`` among its inputs."""
    if not isinstance(body, dict):
        return "body", "the body must be a JSON object (Content-Type: application/json)"
    output = body.get("output")
    if not isinstance(output, str):
        return "output", "output must be a string naming the callback's outputs"
    cb = callbacks.get(output)
    if cb is None or "callback" not in cb:  # clientside callbacks never reach the server
        return "output", f"no server callback has the outputs {_short.repr(output)}"
    if not cb.get("no_output"):
        declared = cb["output"]
        if isinstance(declared, (list, tuple)):
            outs = [{"id": o.component_id_str(), "property": o.component_property} for o in declared]
            err = _deps_error("outputs", outs, body.get("outputs"))
            if err:
                return err
        else:
            err = _dep_error("outputs", declared.component_id_str(), declared.component_property,
                             body.get("outputs"))
            if err:
                return "outputs", err
    err = _deps_error("inputs", cb["inputs"], body.get("inputs"))
    if err:
        return err
    # The renderer leaves ``state`` out when the callback has none.
    state = body.get("state", [] if not cb["state"] else None)
    err = _deps_error("state", cb["state"], state)
    if err:
        return err
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds", "changedPropIds must be a list of strings"
    inputs = {f"{i['id']}.{i['property']}" for i in cb["inputs"]}
    patterns = {"." + i["property"] for i in cb["inputs"] if i["id"].startswith("{")}
    for c in changed:
        if c not in inputs and not (c.startswith("{") and any(c.endswith(p) for p in patterns)):
            return "changedPropIds", f"{_short.repr(c)} is not an input of this callback"
    return None


# -- wiring -------------------------------------------------------------------------------
def install(app, max_body: int) -> None:
    """Guard the Dash ``app``'s server: the body cap, the callback envelope, the bundles,
    and the answer to a callback's :class:`checks.Refused`."""
    server: Flask = app.server
    server.config["MAX_CONTENT_LENGTH"] = max_body
    prefix = app.config.routes_pathname_prefix
    refusals = _RefusalLog()
    too_big = (f"the request body is over {max_body} bytes "
               f"(GRIDPULSE_DASH_MAX_BODY_BYTES)")

    @server.before_request
    def _edge():
        if request.content_length is not None and request.content_length > max_body:
            return _refuse(refusals, 413, "body", too_big)
        path = request.path
        if path.startswith(prefix + SUITES):
            package, _, rest = path[len(prefix + SUITES):].partition("/")
            # Dash fills registered_paths on the first request (its own hook runs first).
            if check_fingerprint(rest)[0] not in app.registered_paths.get(package, ()):
                return _refuse(refusals, 404, "path", f"no such file: {_short.repr(path)}")
        elif path == prefix + UPDATE and request.method == "POST":
            try:
                body = request.get_json(silent=True)
            except RecursionError:  # nested deeper than the JSON decoder goes
                body = None
            err = envelope_error(body, app.callback_map)
            if err:
                return _refuse(refusals, 400, *err)
        return None

    @server.errorhandler(RequestEntityTooLarge)
    def _too_big(_err):  # a body with no declared length, cut while being read
        return _refuse(refusals, 413, "body", too_big)

    @server.errorhandler(Refused)
    def _refused(err: Refused):
        return _refuse(refusals, 400, err.field, err.message)
