"""What each server callback accepts: small declarative checks of its input values.

Every value a callback receives comes from the browser, so anyone can forge it. Each
server callback declares, with :func:`accepts`, one check per argument (its inputs, then
its states, in order): the values that a page of this app can really put there. A value
outside them raises :class:`Refused`, which the edge (guard.py) answers 400 with
``{"error", "field"}`` naming the component property (``d-code.data``), so a forged
value never reaches the code that reads it, and a real bug still surfaces as a bug.

A check is any callable ``check(value)`` that raises :class:`Invalid` (a message for
people) for a value it refuses; the builders below cover what the pages send.
"""

from __future__ import annotations

import functools
import re
import reprlib
from typing import Any, Callable, Iterable

from dash import callback_context

from .texts import LANGS

Check = Callable[[Any], None]
MAX_TEXT = 2048  # a URL path or query string; browsers and proxies cut near here anyway
MAX_SAFE_INT = 2 ** 53 - 1  # the largest integer a browser holds exactly


class Invalid(ValueError):
    """A value a check refuses (the message says what was expected)."""


class Refused(Exception):
    """A callback input that no page of this app sends: HTTP 400 naming ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


_repr = reprlib.Repr()  # bounded in depth and length: a forged value may nest 900 deep
_repr.maxstring = _repr.maxother = 40


def _show(value: Any) -> str:
    return _repr.repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def count(value: Any) -> None:
    """``n_intervals`` / ``n_clicks``: None (never fired) or a non-negative integer."""
    if value is not None and not (_is_int(value) and 0 <= value <= MAX_SAFE_INT):
        raise Invalid(f"expected a count (a non-negative integer) or null, got {_show(value)}")


def flag(value: Any) -> None:
    """A boolean property (``disabled``): None, true or false."""
    if value is not None and not isinstance(value, bool):
        raise Invalid(f"expected true, false or null, got {_show(value)}")


def text(max_len: int = MAX_TEXT) -> Check:
    """None or a string of at most ``max_len`` characters."""
    def check(value: Any) -> None:
        if value is not None and not (isinstance(value, str) and len(value) <= max_len):
            raise Invalid(f"expected a string of at most {max_len} characters or null, got {_show(value)}")
    return check


def integer(lo: int = -MAX_SAFE_INT, hi: int = MAX_SAFE_INT) -> Check:
    """None or an integer in ``lo..hi`` (not a float: NaN and 1e308 are refused too)."""
    def check(value: Any) -> None:
        if value is not None and not (_is_int(value) and lo <= value <= hi):
            raise Invalid(f"expected an integer in {lo}..{hi} or null, got {_show(value)}")
    return check


def choice(values: Iterable[Any]) -> Check:
    """None or one of ``values`` (strings or integers), of the same type."""
    allowed = frozenset(values)

    def check(value: Any) -> None:
        if value is None:
            return
        # ``True == 1`` and ``1.0 == 1`` in Python: compare within the value's own type.
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int)) or value not in allowed:
            raise Invalid(f"expected one of {sorted(map(str, allowed))} or null, got {_show(value)}")
    return check


def matches(pattern: str, what: str) -> Check:
    """None or a string matching the whole of ``pattern`` (``what`` names it for people)."""
    rx = re.compile(pattern)

    def check(value: Any) -> None:
        if value is not None and not (isinstance(value, str) and len(value) <= MAX_TEXT
                                      and rx.fullmatch(value)):
            raise Invalid(f"expected {what} or null, got {_show(value)}")
    return check


def subset(values: Iterable[str]) -> Check:
    """None or a list of distinct strings among ``values`` (a checklist's value)."""
    allowed = frozenset(values)

    def check(value: Any) -> None:
        if value is None:
            return
        if (not isinstance(value, list) or len(value) > len(allowed)
                or not all(isinstance(v, str) and v in allowed for v in value)
                or len(set(value)) != len(value)):
            raise Invalid(f"expected a list of distinct values among {sorted(allowed)}, got {_show(value)}")
    return check


lang = choice(LANGS)  # a page's language, as its stores carry it


def area_code(city, levels: Iterable[str] | None = None) -> Check:
    """None or the code of an area of ``city`` (any level, or one of ``levels``)."""
    wanted = None if levels is None else frozenset(levels)

    def check(value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or len(value) > 32:
            raise Invalid(f"expected an area code, got {_show(value)}")
        try:
            level = city.area(value).level
        except KeyError:
            raise Invalid(f"unknown area code {_show(value)}") from None
        if wanted is not None and level not in wanted:
            raise Invalid(f"{value} is a {level}, expected one of {sorted(wanted)}")
    return check


def record(required: Iterable[str] = (), **fields: Check) -> Check:
    """None or a JSON object (a ``dcc.Store``'s data) with only the keys of ``fields``, each
    value passing its check; the keys in ``required`` must be present and not null."""
    need = tuple(required)

    def check(value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise Invalid(f"expected an object with keys {sorted(fields)}, got {_show(value)}")
        extra = sorted(k for k in value if k not in fields)
        if extra:
            raise Invalid(f"unexpected key {_show(extra[0])}; keys are {sorted(fields)}")
        for key in need:
            if value.get(key) is None:
                raise Invalid(f"{key} is required")
        for key, sub in fields.items():
            try:
                sub(value.get(key))
            except Invalid as err:
                raise Invalid(f"{key}: {err}") from None
    return check


def _field(index: int) -> str:
    """The component property of argument ``index`` (inputs, then states) of this call."""
    try:
        spec = (list(callback_context.inputs_list) + list(callback_context.states_list))[index]
        return f"{spec['id']}.{spec['property']}"
    except (IndexError, KeyError, TypeError, AttributeError):
        return f"argument {index}"


def accepts(*checks: Check) -> Callable:
    """Declare the values a server callback accepts, one check per argument (inputs, then
    states, in order). Put it under ``@app.callback``; a refused value raises
    :class:`Refused` before the callback runs."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def checked(*args: Any) -> Any:
            if len(args) != len(checks):  # the declaration is wrong: a bug, not a forgery
                raise TypeError(f"{fn.__name__} declares {len(checks)} checks for {len(args)} values")
            for i, (check, value) in enumerate(zip(checks, args)):
                try:
                    check(value)
                except Invalid as err:
                    raise Refused(_field(i), str(err)) from None
            return fn(*args)
        checked.gp_checks = checks  # functools.wraps carries it onto Dash's wrapper too
        return checked
    return wrap
