"""Receivers as configured: where notifications go, and how hard to push.

Kinds: ``webhook`` (Alertmanager's webhook payload, signed), ``dingtalk`` and ``wecom``
(group robots: markdown, about 20 messages a minute), ``alertmanager`` (its API v2) and
``none`` (a route that notifies nobody). URLs and secrets may come from the environment
(``url_env``, ``secret_env``) or a file (``url_file``, ``secret_file``): a robot's URL
holds its token, so the configuration file itself need hold no secret. Every URL must
pass the allowlist (allowlist.py) when the file is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import allowlist
from .fields import ConfigError, Node, duration_ms

KINDS = ("webhook", "dingtalk", "wecom", "alertmanager")
#: Per kind: (requests per window, window ms, may several notifications share one request,
#: most bytes of the message text).
_KIND_DEFAULTS = {"webhook": (0, 60_000, False, 0), "alertmanager": (0, 60_000, True, 0),
                  # Both robots accept about 20 messages a minute and mute a robot that
                  # sends more (DingTalk for 10 minutes); WeCom's markdown is at most 4,096
                  # bytes, DingTalk's message body at most 20,000.
                  "dingtalk": (20, 60_000, True, 20_000), "wecom": (20, 60_000, True, 4096)}


@dataclass(frozen=True)
class Receiver:
    """One receiver (``kind`` ``none`` sends nothing)."""

    name: str
    kind: str = "none"
    url: str = ""  # may hold a token: never logged, shown or returned
    shown: str = ""  # the URL without query or credentials
    secret: bytes = b""
    timeout_ms: int = 10_000
    concurrency: int = 4
    rate: int = 0  # requests per rate_window_ms; 0: no limit
    rate_window_ms: int = 60_000
    max_age_ms: int = 3_600_000
    max_alerts: int = 0
    lang: str = "zh"
    at_mobiles: tuple[str, ...] = ()
    merge: bool = False
    max_bytes: int = 0

    def public(self) -> dict:
        """What may be shown of it (no URL query, no secret)."""
        return {"name": self.name, "kind": self.kind, "url": self.shown, "signed": bool(self.secret),
                "timeout_ms": self.timeout_ms, "concurrency": self.concurrency, "rate": self.rate,
                "rate_window_ms": self.rate_window_ms, "max_age_ms": self.max_age_ms, "lang": self.lang}


def _secret(n: Node, key: str, env: dict, base: Path) -> str | None:
    """A value given inline (``key``), by ``key_env`` or by ``key_file``; at most one."""
    given = [k for k in (key, f"{key}_env", f"{key}_file") if n.has(k)]
    if len(given) > 1:
        raise ConfigError(f"{n.path}.{given[1]}", f"give one of {', '.join(given)}, not several")
    if not given:
        return None
    k = given[0]
    if k == key:
        return n.text(k)
    if k.endswith("_env"):
        var = n.text(k, pattern=r"[A-Za-z_][A-Za-z0-9_]*", what="an environment variable name")
        value = env.get(var, "")
        if not value:
            raise ConfigError(f"{n.path}.{k}", f"environment variable {var} is not set")
        return value.strip()
    path = base / n.text(k)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{n.path}.{k}", f"cannot read {path}: {exc.strerror}") from None


def _rate(n: Node, default: tuple[int, int]) -> tuple[int, int]:
    raw = n.raw("rate_limit", None)
    if raw is None:
        return default
    if raw in (0, "0", "none"):
        return (0, 60_000)
    try:
        count, per = str(raw).split("/")
        rate, window = int(count), duration_ms(per if per[0].isdigit() else "1" + per)
        if rate < 1 or window < 1000:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(f"{n.path}.rate_limit", f"expected N/duration like 20/1m (or 0), got {raw!r}") from None
    return rate, window


def load_receiver(node: Node, env: dict, base: Path, entries: list) -> Receiver:
    """One ``receivers[i]`` entry."""
    name = node.text("name", pattern=r"[A-Za-z0-9_.\-]{1,64}", what="1-64 letters, digits, '_', '.' or '-'")
    kinds = [k for k in KINDS if node.has(k)]
    for k in KINDS:
        node.read.add(k)
    if len(kinds) > 1:
        raise ConfigError(f"{node.path}.{kinds[1]}", f"one kind per receiver: {kinds[0]} is already given")
    node.done()
    if not kinds:
        return Receiver(name=name)
    kind = kinds[0]
    n = node.child(kind)
    url = _secret(n, "url", env, base)
    if url is None:
        raise ConfigError(f"{n.path}.url", "required (or url_env / url_file)")
    try:
        allowlist.check_url(url, entries)
    except ValueError as exc:
        raise ConfigError(f"{n.path}.url", str(exc)) from None
    secret = _secret(n, "secret", env, base)
    if kind in ("dingtalk",) and secret is None:
        # DingTalk's robots are signed or keyword-guarded; unsigned ones are allowed but said.
        secret = ""
    rate, window, merge, max_bytes = _KIND_DEFAULTS[kind]
    rate, window = _rate(n, (rate, window))
    r = Receiver(
        name=name, kind=kind, url=url, shown=allowlist.redact(url), secret=(secret or "").encode(),
        timeout_ms=n.duration("timeout", 10_000, lo_ms=100),
        concurrency=n.integer("concurrency", 4, 1, 64),
        rate=rate, rate_window_ms=window,
        max_age_ms=n.duration("max_age", 3_600_000, lo_ms=1000),
        max_alerts=n.integer("max_alerts", 0, 0, 100_000),
        lang=n.text("lang", "zh", pattern="zh|en", what="zh or en"),
        at_mobiles=tuple(n.texts("at_mobiles", [], check=_mobile)) if kind in ("dingtalk", "wecom") else (),
        merge=merge, max_bytes=max_bytes)
    n.done()
    return r


def _mobile(v: str) -> None:
    if not (v == "@all" or (v.isdigit() and 5 <= len(v) <= 15)):
        raise ValueError(f"expected a mobile number (digits) or @all, got {v!r}")


def env_of() -> dict:
    """The process environment (a seam for tests)."""
    return dict(os.environ)
