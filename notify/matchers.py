"""Label matchers (``=``, ``!=``, ``=~``, ``!~``), written as Alertmanager writes them.

``district="330203"``, ``kind=~"overdue|escalation"``. A regex matches the whole value
(anchored both ends, as in Alertmanager); a label the alert lacks has the empty value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TEXT = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s,]*))\s*')
_UNESCAPE = re.compile(r"\\(.)")
OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    name: str
    op: str
    value: str
    _rx: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> "Matcher":
        """A matcher; ValueError naming what is wrong (op, regex)."""
        if op not in OPS:
            raise ValueError(f"operator must be one of {', '.join(OPS)}, got {op!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
            raise ValueError(f"label name must be letters, digits and '_', got {name!r}")
        rx = None
        if op in ("=~", "!~"):
            try:
                rx = re.compile(f"(?:{value})")
            except re.error as exc:
                raise ValueError(f"bad regex {value!r}: {exc}") from None
        return cls(name, op, value, rx)

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher."""
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = self._rx.fullmatch(v) is not None  # type: ignore[union-attr]
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{value}"'


def parse(text: str) -> Matcher:
    """A matcher from ``name<op>"value"`` (quotes optional for simple values)."""
    m = _TEXT.fullmatch(text or "")
    if m is None:
        raise ValueError(f'expected name="value" (or !=, =~, !~), got {text!r}')
    name, op, quoted, bare = m.groups()
    value = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else bare
    return Matcher.make(name, op, value)


def parse_all(texts) -> tuple[Matcher, ...]:
    """Matchers from a list of strings (or one string ``{a="1", b=~"x"}``)."""
    if isinstance(texts, str):
        body = texts.strip()
        if body.startswith("{") and body.endswith("}"):
            body = body[1:-1]
        texts = [t for t in _split(body) if t.strip()]
    return tuple(parse(t) for t in texts)


def _split(body: str) -> list[str]:
    """Split ``a="x,y", b="z"`` on the commas outside quotes."""
    out, cur, quoted, esc = [], [], False, False
    for ch in body:
        if esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def all_match(matchers, labels: dict[str, str]) -> bool:
    """Whether every matcher matches ``labels`` (true for no matchers)."""
    return all(m.matches(labels) for m in matchers)
