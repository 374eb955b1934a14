"""The notifier's configuration file (YAML or TOML), checked whole when loaded.

Layout (docs/notify.md has a full example)::

    global:        {external_url, resolve_timeout, allowlist: [URL, ...]}
    receivers:     [{name, webhook|dingtalk|wecom|alertmanager: {...}}, ...]
    route:         {receiver, group_by, group_wait, group_interval, repeat_interval,
                    send_resolved, mute_windows, at_mobiles, matchers, continue, routes}
    inhibit_rules: [{source_matchers, target_matchers, equal}, ...]
    mute_windows:  [{name, times, weekdays, outside_working_hours, non_working_days, holidays}]

Every refusal is a :class:`ConfigError` naming the field (``route.routes[1].group_wait:
expected a duration like 30s, 5m or 4h, got '5 minutes'``); unknown keys are refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import allowlist, matchers as mt
from .fields import ConfigError, Node
from .inhibit import InhibitRule
from .mute import MuteWindow, parse_times
from .receivers import Receiver, env_of, load_receiver
from .route import GROUP_BY_ALL, Route, RouteOpts, set_keys

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
_ROUTE_KEYS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval",
               "send_resolved", "mute_windows", "at_mobiles")
LABEL = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True)
class Config:
    """A loaded, valid configuration."""

    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    mute_windows: dict[str, MuteWindow] = field(default_factory=dict)
    external_url: str = "http://127.0.0.1:8050"
    resolve_timeout_ms: int = 7 * 86_400_000
    allowlist: list = field(default_factory=list)  # allowlist.Entry, checked again at send time
    source: str = ""
    digest: str = ""

    def summary(self) -> dict:
        """What ``gridpulse notify check`` prints: counts and receivers (no secret)."""
        return {"source": self.source, "digest": self.digest[:12],
                "routes": sum(1 for _ in self.route.walk()),
                "receivers": [r.public() for r in self.receivers.values()],
                "inhibit_rules": len(self.inhibit_rules), "mute_windows": sorted(self.mute_windows)}


def _matchers(n: Node, key: str) -> tuple[mt.Matcher, ...]:
    raw = n.raw(key, [])
    try:
        if isinstance(raw, str):
            return mt.parse_all(raw)
        if not isinstance(raw, list):
            raise ValueError(f"expected a list of matchers like 'kind=\"overdue\"', got {raw!r}")
        out = []
        for i, t in enumerate(raw):
            try:
                if not isinstance(t, str):
                    raise ValueError(f"expected a matcher like 'kind=\"overdue\"', got {t!r}")
                out.append(mt.parse(t))
            except ValueError as exc:
                raise ConfigError(f"{n.path}.{key}[{i}]", str(exc)) from None
        return tuple(out)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{n.path}.{key}", str(exc)) from None


def _check_label(v: str) -> None:
    if v != "..." and not re.fullmatch(LABEL, v):
        raise ValueError(f"expected a label name or '...', got {v!r}")


def _label_names(n: Node, key: str) -> tuple[str, ...]:
    names = tuple(n.texts(key, [], check=_check_label))
    if "..." in names:
        if len(names) > 1:
            raise ConfigError(f"{n.path}.{key}", "'...' (group by every label) stands alone")
        return GROUP_BY_ALL
    return names


def _route(n: Node, parent: RouteOpts | None, receivers: dict, windows: dict) -> Route:
    base = parent or RouteOpts(receiver="")
    receiver = n.text("receiver", base.receiver or None) if parent else n.text("receiver")
    if receiver not in receivers:
        raise ConfigError(f"{n.path}.receiver", f"no receiver named {receiver!r} (receivers: "
                                                f"{', '.join(sorted(receivers)) or 'none'})")
    mute = tuple(n.texts("mute_windows", list(base.mute_windows)))
    for i, w in enumerate(mute):
        if w not in windows:
            raise ConfigError(f"{n.path}.mute_windows[{i}]", f"no mute window named {w!r}")
    opts = RouteOpts(
        receiver=receiver,
        group_by=_label_names(n, "group_by") if n.has("group_by") else base.group_by,
        group_wait=n.duration("group_wait", base.group_wait),
        group_interval=n.duration("group_interval", base.group_interval, lo_ms=1000),
        repeat_interval=n.duration("repeat_interval", base.repeat_interval, lo_ms=1000),
        send_resolved=n.flag("send_resolved", base.send_resolved),
        mute_windows=mute,
        at_mobiles=tuple(n.texts("at_mobiles", list(base.at_mobiles))))
    if parent is None and (n.has("matchers") or n.has("continue")):
        raise ConfigError(f"{n.path}.{'matchers' if n.has('matchers') else 'continue'}",
                          "the root route takes every alert: no matchers, no continue")
    route = Route(opts=opts, matchers=_matchers(n, "matchers"), cont=n.flag("continue", False))
    route.routes = [_route(c, opts, receivers, windows) for c in n.children("routes")]
    n.done()
    return route


def _window(n: Node) -> MuteWindow:
    name = n.text("name", pattern=r"[A-Za-z0-9_.\-]{1,64}", what="1-64 letters, digits, '_', '.' or '-'")
    times = tuple(parse_times(t) for t in n.texts("times", [], check=parse_times))
    days = n.raw("weekdays", [])
    if not isinstance(days, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                             and 0 <= d <= 6 for d in days):
        raise ConfigError(f"{n.path}.weekdays", f"expected a list of 0 (Monday) to 6 (Sunday), got {days!r}")
    w = MuteWindow(name=name, times=times, weekdays=frozenset(days),
                   outside_working_hours=n.flag("outside_working_hours", False),
                   non_working_days=n.flag("non_working_days", False), holidays=n.flag("holidays", False))
    if not (w.times or w.outside_working_hours or w.non_working_days or w.holidays):
        raise ConfigError(n.path, "a mute window needs times, outside_working_hours, non_working_days or holidays")
    n.done()
    return w


def parse_document(text: str, name: str) -> dict:
    """The document in ``text`` (TOML if ``name`` ends .toml, else YAML, which reads JSON too)."""
    try:
        doc = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError("", f"not valid {'TOML' if name.endswith('.toml') else 'YAML'}: "
                              f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("", "the file must hold a mapping (global, receivers, route, ...)")
    return doc


def load_document(doc: dict, env: dict | None = None, base: Path = Path("."), source: str = "",
                  digest: str = "") -> Config:
    """A :class:`Config` from a parsed document; :class:`ConfigError` naming the field."""
    env = env_of() if env is None else env
    top = Node(doc, "")
    g = top.child("global") if top.has("global") else Node({}, "global")
    try:
        entries = [allowlist.Entry.parse(e) for e in g.texts("allowlist", [])]
    except ValueError as exc:
        raise ConfigError("global.allowlist", str(exc)) from None
    external = g.text("external_url", "http://127.0.0.1:8050", pattern=r"https?://\S+", what="an http(s) URL")
    resolve = g.duration("resolve_timeout", 7 * 86_400_000, lo_ms=60_000)
    g.done()
    receivers: dict[str, Receiver] = {}
    for rn in top.children("receivers"):
        r = load_receiver(rn, env, base, entries)
        if r.name in receivers:
            raise ConfigError(f"{rn.path}.name", f"a second receiver named {r.name!r}")
        receivers[r.name] = r
    windows: dict[str, MuteWindow] = {}
    for wn in top.children("mute_windows"):
        w = _window(wn)
        if w.name in windows:
            raise ConfigError(f"{wn.path}.name", f"a second mute window named {w.name!r}")
        windows[w.name] = w
    route = _route(top.child("route"), None, receivers, windows)
    set_keys(route)
    rules = []
    for rn in top.children("inhibit_rules"):
        rule = InhibitRule(source=_matchers(rn, "source_matchers"), target=_matchers(rn, "target_matchers"),
                           equal=_label_names(rn, "equal"))
        if not rule.source or not rule.target:
            raise ConfigError(f"{rn.path}.{'source_matchers' if not rule.source else 'target_matchers'}",
                              "at least one matcher is required")
        rn.done()
        rules.append(rule)
    top.done()
    return Config(route=route, receivers=receivers, inhibit_rules=rules, mute_windows=windows,
                  external_url=external.rstrip("/"), resolve_timeout_ms=resolve, allowlist=entries,
                  source=source, digest=digest)


def load_config(path: str | Path | None = None, env: dict | None = None) -> Config:
    """The configuration in file ``path`` (None: the bundled default, which notifies nobody)."""
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read {p}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    doc = parse_document(text, p.name)
    digest = hashlib.sha256(raw + json.dumps(sorted((env or {}).items())).encode()).hexdigest()
    return load_document(doc, env, p.parent, str(p), digest)
