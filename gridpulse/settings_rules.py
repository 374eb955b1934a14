"""What each setting accepts: small rules that turn an environment string into a value.

A rule's ``parse`` returns the typed value or raises ValueError (with an optional detail,
e.g. "no such file"); its ``accepts`` phrase says what would have been accepted and is
used both in the error line and in the README's configuration table. Every field of
:class:`gridpulse.settings.Settings` declares one next to its default and doc.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class Rule:
    """How one setting's text becomes a value; ``accepts`` names what it takes."""

    accepts: str = ""

    def parse(self, raw: str) -> Any:
        """The value of ``raw``; ValueError (its text: an optional detail) if not accepted."""
        raise NotImplementedError


def _bound(lo: float | None, hi: float | None, noun: str, lo_open: bool = False) -> str:
    article = "an" if noun[0] in "aeiou" else "a"
    if lo is not None and hi is not None:
        return f"{article} {noun} > {lo} and <= {hi}" if lo_open else f"{article} {noun} from {lo} to {hi}"
    if lo is not None:
        return f"{article} {noun} {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"{article} {noun} <= {hi}"
    return f"any {noun}"


@dataclass(frozen=True)
class Flag(Rule):
    """A boolean, spelled exactly one of a few ways (anything else is a typo, not False)."""

    accepts = "1/0, true/false, yes/no, on/off (any case)"
    _WORDS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}

    def parse(self, raw: str) -> bool:
        """True or False."""
        try:
            return self._WORDS[raw.strip().lower()]
        except KeyError:
            raise ValueError() from None


@dataclass(frozen=True)
class Int(Rule):
    """An integer within ``[lo, hi]`` (either bound optional), or 0 as well if ``or_zero``
    (the usual "0: no limit")."""

    lo: int | None = None
    hi: int | None = None
    noun: str = "integer"
    or_zero: bool = False

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return _bound(self.lo, self.hi, self.noun) + (", or 0" if self.or_zero else "")

    def parse(self, raw: str) -> int:
        """The integer."""
        value = int(raw)  # ValueError for "4.0", "four"
        if value == 0 and self.or_zero:
            return value
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError()
        return value


def Port() -> Int:  # noqa: N802 - reads as a rule like the others
    """A TCP port."""
    return Int(1, 65535, "port")


@dataclass(frozen=True)
class Float(Rule):
    """A finite number within bounds; ``lo_open`` makes the lower bound exclusive."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return _bound(self.lo, self.hi, "number", self.lo_open)

    def parse(self, raw: str) -> float:
        """The number."""
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError()
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            raise ValueError()
        if self.hi is not None and value > self.hi:
            raise ValueError()
        return value


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a fixed set of words (exact spelling)."""

    choices: tuple[str, ...]

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.choices)

    def parse(self, raw: str) -> str:
        """The word."""
        if raw not in self.choices:
            raise ValueError()
        return raw


@dataclass(frozen=True)
class Text(Rule):
    """Free text matching ``pattern`` (whole string), described by ``accepts``."""

    pattern: str
    accepts: str = "text"  # type: ignore[assignment]

    def parse(self, raw: str) -> str:
        """The text itself."""
        if re.fullmatch(self.pattern, raw) is None:
            raise ValueError()
        return raw


@dataclass(frozen=True)
class LogLevel(Rule):
    """One of Python's logging level names, any case; the value is upper case."""

    accepts = "DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)"
    _NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

    def parse(self, raw: str) -> str:
        """The level's name in upper case."""
        name = raw.strip().upper()
        if name not in self._NAMES:
            raise ValueError()
        return name


@dataclass(frozen=True)
class Zone(Rule):
    """An IANA time zone name the zoneinfo database knows."""

    accepts = "an IANA time zone name, e.g. Asia/Shanghai"

    def parse(self, raw: str) -> str:
        """The zone's name."""
        from zoneinfo import ZoneInfo
        try:
            ZoneInfo(raw)
        except (KeyError, ValueError, OSError):  # not found, a bad path, a folder ("Asia")
            raise ValueError() from None
        return raw


_HHMM = r"([01]\d|2[0-3]):([0-5]\d)"


@dataclass(frozen=True)
class HourRange(Rule):
    """``HH:MM-HH:MM`` local times, start before end (a day's window, not over midnight)."""

    accepts = "HH:MM-HH:MM (24-hour clock), start before end"

    def parse(self, raw: str) -> str:
        """The text, unchanged."""
        m = re.fullmatch(f"{_HHMM}-{_HHMM}", raw.strip())
        if m is None:
            raise ValueError()
        h0, m0, h1, m1 = (int(g) for g in m.groups())
        if time(h0, m0) >= time(h1, m1):
            raise ValueError("start is not before end")
        return raw.strip()


@dataclass(frozen=True)
class IsoTime(Rule):
    """An ISO 8601 date-time (``datetime.fromisoformat``); offset optional."""

    accepts = "an ISO 8601 time, e.g. 2026-11-27T08:30 (city time if no offset)"

    def parse(self, raw: str) -> str:
        """The text, unchanged."""
        datetime.fromisoformat(raw.strip())
        return raw.strip()


@dataclass(frozen=True)
class ExistingFile(Rule):
    """The path of an existing file; ``check(path)`` may also read it (ValueError: bad content)."""

    accepts: str = "the path of an existing file"  # type: ignore[assignment]
    check: Callable[[str], object] | None = None

    def parse(self, raw: str) -> str:
        """The path, unchanged."""
        if not Path(raw).is_file():
            raise ValueError("no such file")
        if self.check is not None:
            try:
                self.check(raw)
            except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
                raise ValueError(str(exc).replace("\n", " ")) from None
        return raw


@dataclass(frozen=True)
class CityRef(Rule):
    """A bundled city name or a directory holding ``city.json.gz``."""

    accepts = "a bundled city name (e.g. ningbo) or a directory holding city.json.gz"

    def parse(self, raw: str) -> str:
        """The name or directory, unchanged."""
        from gridpulse.city import city_path
        try:
            city_path(raw)
        except (OSError, ValueError):
            raise ValueError() from None
        return raw


# Underscores are not DNS but are common in container names (kafka_1).
_HOST = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\]"


@dataclass(frozen=True)
class Bootstrap(Rule):
    """Kafka bootstrap servers: ``host:port`` separated by commas."""

    accepts = "host:port[,host:port...] (port 1-65535)"

    def parse(self, raw: str) -> str:
        """The text, unchanged."""
        for server in raw.split(","):
            m = re.fullmatch(rf"({_HOST}):(\d+)", server)
            if m is None or not 1 <= int(m.group(2)) <= 65535:
                raise ValueError()
        return raw


@dataclass(frozen=True)
class RedisUrl(Rule):
    """A URL redis-py's ``from_url`` takes: ``redis://``, ``rediss://`` or ``unix://``."""

    accepts = "redis://[user:password@]host[:port][/db], rediss://... or unix:///path"

    def parse(self, raw: str) -> str:
        """The URL, unchanged."""
        try:
            url = urlsplit(raw)
            url.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ValueError() from None
        if url.scheme in ("redis", "rediss"):
            if not url.hostname:
                raise ValueError("no host")
            if url.path not in ("", "/") and not url.path.lstrip("/").isdigit():
                raise ValueError("the database must be a number")
        elif url.scheme != "unix" or not url.path:
            raise ValueError()
        return raw


def rule_for_type(kind: Any) -> Rule:
    """The loosest rule for a field's type (a field that forgot its own rule)."""
    name = kind if isinstance(kind, str) else getattr(kind, "__name__", "")
    return {"bool": Flag(), "int": Int(), "float": Float()}.get(name, Text(r"(?s).*"))
