"""Reading a configuration document field by field, each error naming its field.

A :class:`Node` is a value and its path in the file (``route.routes[2].group_wait``);
its getters check a type and raise :class:`ConfigError` naming that path, and
:meth:`Node.done` refuses keys nobody read (a typo must not silently mean "default").
"""

from __future__ import annotations

import re
from typing import Any, Callable

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MISSING = object()


class ConfigError(ValueError):
    """A configuration that is refused; ``field`` is the path of the value at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def duration_ms(text: Any) -> int:
    """Milliseconds of an Alertmanager duration (``30s``, ``5m``, ``1h30m``, ``0``)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"expected a duration like 30s, 5m or 4h, got {text!r}")
    s = str(text).strip()
    if s == "0":
        return 0
    pos, total = 0, 0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"expected a duration like 30s, 5m or 4h, got {text!r}")
    return total


class Node:
    """A mapping of the document at ``path``."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {type(value).__name__}")
        self.value, self.path, self.read = value, path, set()

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value of ``key`` (``default`` if absent; required if no default)."""
        self.read.add(key)
        if key not in self.value or self.value[key] is None:
            if default is _MISSING:
                raise ConfigError(self._at(key), "required")
            return default
        return self.value[key]

    def has(self, key: str) -> bool:
        """Whether ``key`` is present (and not null)."""
        return self.value.get(key) is not None

    def text(self, key: str, default: Any = _MISSING, pattern: str | None = None,
             what: str = "text") -> str:
        """A string (matching ``pattern`` in whole, if given)."""
        v = self.raw(key, default)
        if v is default and default is not _MISSING:
            return v
        if not isinstance(v, str) or (pattern and not re.fullmatch(pattern, v)):
            raise ConfigError(self._at(key), f"expected {what}, got {v!r}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        """true or false."""
        v = self.raw(key, default)
        if not isinstance(v, bool):
            raise ConfigError(self._at(key), f"expected true or false, got {v!r}")
        return v

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        """An integer in ``lo..hi``."""
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(self._at(key), f"expected an integer from {lo} to {hi}, got {v!r}")
        return v

    def duration(self, key: str, default: Any = _MISSING, lo_ms: int = 0) -> int:
        """A duration in milliseconds (at least ``lo_ms``)."""
        v = self.raw(key, default)
        if v is default and isinstance(default, int) and not isinstance(default, bool):
            return v
        try:
            ms = duration_ms(v)
        except ValueError as exc:
            raise ConfigError(self._at(key), str(exc)) from None
        if ms < lo_ms:
            raise ConfigError(self._at(key), f"must be at least {lo_ms} ms, got {v!r}")
        return ms

    def items(self, key: str, default: Any = _MISSING) -> list[Any]:
        """A list."""
        v = self.raw(key, default)
        if not isinstance(v, list):
            raise ConfigError(self._at(key), f"expected a list, got {v!r}")
        return v

    def texts(self, key: str, default: Any = _MISSING, check: Callable[[str], Any] | None = None) -> list[str]:
        """A list of strings (each passing ``check``, which raises ValueError)."""
        out = []
        for i, v in enumerate(self.items(key, default)):
            if not isinstance(v, str):
                raise ConfigError(f"{self._at(key)}[{i}]", f"expected text, got {v!r}")
            if check is not None:
                try:
                    check(v)
                except ValueError as exc:
                    raise ConfigError(f"{self._at(key)}[{i}]", str(exc)) from None
            out.append(v)
        return out

    def child(self, key: str) -> "Node":
        """The mapping under ``key``."""
        return Node(self.raw(key), self._at(key))

    def children(self, key: str) -> list["Node"]:
        """The mappings of the list under ``key``."""
        return [Node(v, f"{self._at(key)}[{i}]") for i, v in enumerate(self.items(key, []))]

    def done(self) -> None:
        """Refuse a key no getter read."""
        unknown = sorted(set(self.value) - self.read, key=str)
        if unknown:
            raise ConfigError(self._at(str(unknown[0])), "unknown key")
