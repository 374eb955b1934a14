"""The routing tree: which receivers an alert goes to, grouped how, and how often.

As in Alertmanager: an alert enters at the root; a route matches when all its matchers
do; the children are tried in order and the first that matches takes the alert, unless
it says ``continue``, in which case the next ones are tried too; a route none of whose
children match takes the alert itself. Options are inherited from the parent, the root
inheriting Alertmanager's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .matchers import Matcher, all_match

#: Alertmanager's defaults (dispatch/route.go, DefaultRouteOpts).
GROUP_WAIT_MS = 30_000
GROUP_INTERVAL_MS = 300_000
REPEAT_INTERVAL_MS = 4 * 3_600_000
GROUP_BY_ALL = ("...",)


@dataclass(frozen=True)
class RouteOpts:
    """What a route decides for the alerts it takes."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: int = GROUP_WAIT_MS
    group_interval: int = GROUP_INTERVAL_MS
    repeat_interval: int = REPEAT_INTERVAL_MS
    send_resolved: bool = True
    mute_windows: tuple[str, ...] = ()
    at_mobiles: tuple[str, ...] = ()


@dataclass
class Route:
    """A node of the tree; ``key`` names it in group keys (Alertmanager's form)."""

    opts: RouteOpts
    matchers: tuple[Matcher, ...] = ()
    cont: bool = False
    routes: list["Route"] = field(default_factory=list)
    key: str = "{}"

    def match(self, labels: dict[str, str]) -> list["Route"]:
        """The routes that take an alert with ``labels`` (empty if this one does not match)."""
        if not all_match(self.matchers, labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            got = child.match(labels)
            out.extend(got)
            if got and not child.cont:
                break
        return out or [self]

    def walk(self):
        """This route and every one below it, depth first."""
        yield self
        for c in self.routes:
            yield from c.walk()

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        """The labels an alert's group is told apart by on this route."""
        if self.opts.group_by == GROUP_BY_ALL:
            return dict(labels)
        return {n: labels[n] for n in self.opts.group_by if n in labels}


def label_text(labels: dict[str, str]) -> str:
    """``{a="1", b="2"}``, sorted, as Alertmanager prints a label set."""
    inner = ", ".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def group_key(route: Route, group_labels: dict[str, str]) -> str:
    """The group's key: the route's key and the group labels, as Alertmanager forms it."""
    return f"{route.key}:{label_text(group_labels)}"


def set_keys(root: Route) -> None:
    """Name every route like Alertmanager (``{}/{kind="overdue"}``); siblings with the same
    matchers get their position appended, so every key is unique."""
    def visit(r: Route, parent: str | None) -> None:
        own = "{" + ", ".join(str(m) for m in r.matchers) + "}"
        r.key = own if parent is None else f"{parent}/{own}"
        seen: dict[str, int] = {}
        for i, c in enumerate(r.routes):
            visit(c, r.key)
            if c.key in seen:
                c.key = f"{c.key}#{i}"
            seen[c.key] = i
    visit(root, None)
