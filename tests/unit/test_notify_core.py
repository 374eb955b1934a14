"""The notifier's pure core, table by table: matchers, routes, grouping and dedup on
event time, inhibition, silences, mute windows. Every decision takes ``now``."""

from __future__ import annotations

import pytest

from gridpulse.loop.calendar import load_calendar
from gridpulse.schemas import Alert, AlertAck, Silence, SilenceMatcher
from notify import matchers as mt
from notify.config import load_document
from notify.groups import Dispatcher
from notify.labels import Tracked, fingerprint, labels_of
from notify.mute import MuteWindow
from notify.silences import Silences

T = 1_795_750_200_000  # 2026-11-27 10:50 Asia/Shanghai, a Friday
S, M, H = 1000, 60_000, 3_600_000
LIN = dict(grid="330203001001003", community="330203001001", town="330203001", district="330203", city="330200")
CAL = load_calendar()


def alert(case="C1", kind="overdue", ts=T, clock="handle", start=T - H, level=None, **kw) -> Alert:
    aid = f"{case}:{clock}:{start}:{kind}" + (f":{level}" if level else "")
    fields = dict(LIN, category="sanitation", dept="sanitation", severity=3, stage="dispatched", deadline=T)
    fields.update(kw)
    return Alert(id=aid, kind=kind, ts=ts, case=case, **fields)


def config(route: dict, inhibit=(), windows=()) -> object:
    doc = {"receivers": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "route": route,
           "inhibit_rules": list(inhibit), "mute_windows": list(windows)}
    return load_document(doc, env={})


@pytest.mark.parametrize("text, labels, hit", [
    ('kind="overdue"', {"kind": "overdue"}, True),
    ('kind="overdue"', {"kind": "warning"}, False),
    ('kind!="overdue"', {"kind": "warning"}, True),
    ('kind!="overdue"', {}, True),
    ('kind=~"overdue|escalation"', {"kind": "escalation"}, True),
    ('kind=~"over"', {"kind": "overdue"}, False),  # anchored, as in Alertmanager
    ('level!~"1|2"', {"level": "3"}, True),
    ('level!~"1|2"', {"level": "2"}, False),
    ('district=330203', {"district": "330203"}, True),
    ('severity=~"3|4"', {"severity": "4"}, True),
    ('missing=""', {}, True),
])
def test_matchers(text, labels, hit):
    assert mt.parse(text).matches(labels) is hit


@pytest.mark.parametrize("bad", ["kind", 'kind=="x"', '1x="a"', 'kind=~"("'])
def test_bad_matchers_are_refused(bad):
    with pytest.raises(ValueError):
        mt.parse(bad)


def test_labels_and_fingerprint():
    a = alert(kind="escalation", level=2)
    lab = labels_of(a)
    assert lab["clock"] == "handle" and lab["clock_id"] == f"C1:handle:{T - H}" and lab["level"] == "2"
    assert lab["severity"] == "3" and lab["alertname"] == "gridpulse_escalation"
    # Prometheus' own fingerprint of {} and of {a="b"} (model.LabelSet.Fingerprint).
    assert fingerprint({}) == "cbf29ce484222325"
    assert len(fingerprint(lab)) == 16 and fingerprint(lab) == fingerprint(dict(reversed(lab.items())))


ROUTES = {"receiver": "a", "group_by": ["district"], "routes": [
    {"matchers": ['kind="escalation"', 'level=~"2|3"'], "receiver": "b", "continue": True},
    {"matchers": ['severity=~"3|4"'], "receiver": "c"},
]}


@pytest.mark.parametrize("a, receivers", [
    (alert(kind="escalation", level=2, severity=1), ["b"]),  # continue, but no later sibling matches
    (alert(kind="escalation", level=2, severity=3), ["b", "c"]),
    (alert(kind="overdue", severity=3), ["c"]),
    (alert(kind="overdue", severity=1), ["a"]),
])
def test_routing(a, receivers):
    cfg = config(ROUTES)
    assert [r.opts.receiver for r in cfg.route.match(labels_of(a))] == receivers


def _run(disp: Dispatcher, until: int, step: int = S, wall: int | None = None):
    out = []
    for now in range(disp.now or T - H, until + 1, step):
        out += disp.advance(now, wall or now)
    return out


def test_group_wait_interval_and_repeat_on_event_time():
    cfg = config({"receiver": "a", "group_by": ["district"], "group_wait": "30s", "group_interval": "5m",
                  "repeat_interval": "1h"})
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", ts=T))
    d.ingest(alert("C2", ts=T + 10 * S))
    assert d.advance(T + 29 * S, T) == []
    (n1,) = d.advance(T + 30 * S, T)
    assert n1.note.at == T + 30 * S and n1.note.reason == "first_notification"
    assert [a.id for a in n1.note.alerts] == [f"C1:handle:{T - H}:overdue", f"C2:handle:{T - H}:overdue"]
    d.ingest(alert("C3", ts=T + M))  # arrives after the first flush: waits for group_interval
    assert d.advance(T + 5 * M, T) == []
    (n2,) = d.advance(T + 5 * M + 30 * S, T)
    assert n2.note.reason == "new_alerts_in_group" and len(n2.note.alerts) == 3
    # nothing new: the next notification is the repeat, one hour after the last
    assert _run(d, T + H + 5 * M + 29 * S, step=5 * M) == []
    (n3,) = d.advance(T + H + 5 * M + 30 * S, T)
    assert n3.note.reason == "repeat_interval_elapsed"


def test_order_of_arrival_does_not_change_a_notification():
    cfg = config({"receiver": "a", "group_by": ["district"], "group_wait": "1m"})
    alerts = [alert(f"C{i}", ts=T + i * 7 * S) for i in range(12)]
    keys = []
    for order in (alerts, list(reversed(alerts))):
        d = Dispatcher(cfg, CAL)
        for a in order:
            d.ingest(a)
        keys.append([(n.note.key, n.note.at, [a.id for a in n.note.alerts]) for n in _run(d, T + 30 * M, 10 * S)])
    assert keys[0] == keys[1] and len(keys[0]) >= 2


def test_resolution_sends_resolved_only_where_the_route_says():
    for send_resolved, want in ((True, ["first_notification", "all_alerts_resolved"]), (False, ["first_notification"])):
        cfg = config({"receiver": "a", "group_by": ["case"], "group_wait": "0s", "group_interval": "1m",
                      "send_resolved": send_resolved})
        d = Dispatcher(cfg, CAL)
        d.ingest(alert("C1", ts=T))
        d.ingest(Alert(id=f"C1:handle:{T - H}:resolved", kind="resolved", ts=T + 90 * S, case="C1", **LIN))
        got = _run(d, T + 10 * M, 10 * S)
        assert [n.note.reason for n in got] == want
        if send_resolved:
            assert [a.status for a in got[1].note.alerts] == ["resolved"]


def test_an_acknowledged_alert_is_not_repeated():
    cfg = config({"receiver": "a", "group_by": ["case"], "group_wait": "0s", "group_interval": "1m",
                  "repeat_interval": "10m"})
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", ts=T))
    assert len(_run(d, T + 10 * M, M)) == 2  # first, and one repeat
    d.ack(AlertAck(id="ack-1", alert=f"C1:handle:{T - H}:overdue", by="李明", at=T + 10 * M))
    assert _run(d, T + 60 * M, M, wall=T + 11 * M) == []


INHIBIT = [{"source_matchers": ['kind="escalation"', 'level="2"'],
            "target_matchers": ['kind=~"overdue|escalation"', 'level=~"|1"'], "equal": ["clock_id"]}]


@pytest.mark.parametrize("order", ["escalation first", "overdue first"])
@pytest.mark.parametrize("wait", ["0s", "30s"])
def test_inhibition_never_races(order, wait):
    """An overdue alert and its district escalation posted together (same moment): the
    overdue one is never sent, whichever came first and with group_wait 0."""
    cfg = config({"receiver": "a", "group_by": ["case", "kind"], "group_wait": wait}, INHIBIT)
    d = Dispatcher(cfg, CAL)
    pair = [alert("C1", kind="escalation", level=2, ts=T), alert("C1", kind="overdue", ts=T)]
    for a in pair if order == "escalation first" else reversed(pair):
        d.ingest(a)
    got = _run(d, T + 10 * M, S)
    assert [a.id.split(":")[-2:] for n in got for a in n.note.alerts] == [["escalation", "2"]]


def test_inhibition_is_judged_at_the_flush_time_and_ends_with_the_source():
    cfg = config({"receiver": "a", "group_by": ["case", "kind"], "group_wait": "0s", "group_interval": "1m"},
                 INHIBIT)
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", kind="escalation", level=1, ts=T))  # town level: fires at T, before its source
    d.ingest(alert("C1", kind="escalation", level=2, ts=T + 5 * M))
    got = _run(d, T + 20 * M, 10 * S)
    assert [(n.note.at, [a.id[-12:] for a in n.note.alerts]) for n in got] == [
        (T, ["escalation:1"]), (T + 5 * M, ["escalation:2"])]
    # an inhibited alert is not repeated while its source fires
    assert _run(d, T + 5 * H, 5 * M) == [] or all("escalation:1" not in a.id for n in _run(d, T + 5 * H, 5 * M)
                                                 for a in n.note.alerts)


def _silence(start, end, *ms):
    return Silence(id="sil-1", matchers=[SilenceMatcher(name=n, op=o, value=v) for n, o, v in ms],
                   start=start, end=end, creator="李明", created=start, updated=start)


@pytest.mark.parametrize("start, end, at, wall, muted", [
    (T, T + H, T + M, T + M, True),
    (T, T + H, T + H, T + H, False),  # ended
    (T + M, T + H, T, T, False),  # not started
    (T + M, T + H, T, T + M, True),  # started by the wall clock: covers what waits to be sent
    (T, T + H, T - M, T + 2 * M, True),
])
def test_silence_windows(start, end, at, wall, muted):
    sil = Silences()
    sil.put(_silence(start, end, ("district", "=", "330203")))
    assert (sil.silenced_by({"district": "330203"}, at, wall) is not None) is muted
    assert sil.silenced_by({"district": "330204"}, at, wall) is None


def test_silenced_alerts_are_not_notified():
    cfg = config({"receiver": "a", "group_by": ["case"], "group_wait": "0s"})
    sil = Silences()
    sil.put(_silence(T - H, T + H, ("case", "=", "C1")))
    d = Dispatcher(cfg, CAL, sil)
    d.ingest(alert("C1", ts=T))
    d.ingest(alert("C2", ts=T))
    assert [n.note.group_labels["case"] for n in _run(d, T + M)] == ["C2"]


NIGHTS = MuteWindow("nights", outside_working_hours=True)


@pytest.mark.parametrize("local, window, muted", [
    ("2026-11-27T10:00", NIGHTS, False),  # Friday, office hours
    ("2026-11-27T18:00", NIGHTS, True),
    ("2026-11-28T10:00", NIGHTS, True),  # Saturday
    ("2026-11-28T10:00", MuteWindow("w", non_working_days=True), True),
    ("2026-10-01T10:00", MuteWindow("h", holidays=True), True),  # National Day
    ("2026-11-27T10:00", MuteWindow("h", holidays=True), False),
    ("2026-11-27T23:30", MuteWindow("n", times=((22 * 60, 7 * 60),)), True),
    ("2026-11-28T06:59", MuteWindow("n", times=((22 * 60, 7 * 60),), weekdays=frozenset({4})), True),  # Fri night
    ("2026-11-28T07:00", MuteWindow("n", times=((22 * 60, 7 * 60),)), False),
])
def test_mute_windows(local, window, muted):
    from gridpulse.clock import parse_local
    assert window.mutes(parse_local(local, "Asia/Shanghai"), CAL) is muted


def test_a_muted_flush_is_sent_after_the_window():
    from gridpulse.clock import parse_local
    cfg = config({"receiver": "a", "group_by": ["case"], "group_wait": "0s", "group_interval": "5m",
                  "routes": [{"matchers": ['severity=~"3|4"'], "mute_windows": ["nights"]}]},
                 windows=[{"name": "nights", "outside_working_hours": True}])
    night = parse_local("2026-11-27T20:00", "Asia/Shanghai")
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", ts=night, severity=3))
    d.ingest(alert("C2", ts=night, severity=1))
    got = [(n.note.group_labels["case"], n.note.at) for n in _run(d, night + 3 * 86_400_000, 5 * M)]
    monday = parse_local("2026-11-30T08:30", "Asia/Shanghai")
    assert got[0] == ("C2", night)
    first_c1 = next(at for case, at in got if case == "C1")
    assert monday <= first_c1 < monday + 5 * M


def test_a_logged_notification_is_not_sent_again():
    cfg = config({"receiver": "a", "group_by": ["case"], "group_wait": "0s"})
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", ts=T))
    (n,) = d.advance(T, T)
    d2 = Dispatcher(cfg, CAL)  # a restart: the same alerts, the log says sent
    d2.ingest(alert("C1", ts=T))
    assert d2.advance(T + H, T + H, {n.note.key: "sent"}.get) == []
    assert d2.advance(T + 4 * H + M, T, {n.note.key: "sent"}.get)[0].note.reason == "repeat_interval_elapsed"


def test_tracked_status():
    t = Tracked.of(alert(ts=T))
    t.resolved_at = T + M
    assert [t.status_at(x) for x in (T - 1, T, T + M)] == ["", "firing", "resolved"]


def visit(kind="off_grid", ts=T, terminal="T00017", **kw) -> Alert:
    """A visit alert (from the GPS partitions): no case, clock, category or department."""
    return Alert(id=f"offgrid:{terminal}:{ts}" if kind == "off_grid" else f"silent:{terminal}:{ts}",
                 kind=kind, ts=ts, terminal=terminal, worker="W00017", **dict(LIN, **kw))


@pytest.mark.parametrize("route, labels, waits", [
    # the root route grouped by district: a visit alert can join any of its groups
    ({"group_by": ["district"]}, {"district": "330203"}, True),
    # grouped by kind: a case kind's group is a case group
    ({"group_by": ["district", "kind"]}, {"district": "330203", "kind": "overdue"}, False),
    ({"group_by": ["district", "kind"]}, {"district": "330203", "kind": "off_grid"}, True),
    # grouped by case: visit alerts have none
    ({"group_by": ["case"]}, {"case": "C1"}, False),
    ({"group_by": ["case"]}, {}, True),  # the group of alerts without a case: visit alerts
    # a route that takes case kinds only
    ({"group_by": ["district"], "routes": [{"matchers": ['kind=~"overdue|escalation"']}]},
     {"district": "330203"}, False),
    # a route on a label visit alerts lack
    ({"group_by": ["district"], "routes": [{"matchers": ['dept="sanitation"']}]}, {"district": "330203"}, False),
    ({"group_by": ["district"], "routes": [{"matchers": ['dept!="sanitation"']}]}, {"district": "330203"}, True),
    # a label visit alerts carry, value unknown here: taken as matching
    ({"group_by": ["district"], "routes": [{"matchers": ['terminal=~"T0.*"']}]}, {"district": "330203"}, True),
    # every label: the group's kind decides
    ({"group_by": ["..."]}, labels_of(alert()), False),
])
def test_which_groups_wait_for_the_visit_clock(route, labels, waits):
    from notify.route import GROUP_BY_ALL
    cfg = config({"receiver": "a", **route})
    d = Dispatcher(cfg, CAL)
    leaf = list(cfg.route.walk())[-1]
    by = tuple(labels) if leaf.opts.group_by == GROUP_BY_ALL else leaf.opts.group_by
    assert d._waits_for_visits(leaf, {n: labels[n] for n in by if n in labels}) is waits


def test_an_inhibition_by_a_visit_alert_makes_every_group_wait():
    cfg = config({"receiver": "a", "group_by": ["case"]},
                 inhibit=[{"source_matchers": ['kind="off_grid"'], "target_matchers": ['kind="overdue"'],
                           "equal": ["grid"]}])
    assert Dispatcher(cfg, CAL)._waits_for_visits(cfg.route, {"case": "C1"})


def test_a_group_that_can_hold_visit_alerts_waits_for_the_visit_clock():
    """The GPS partitions write a visit alert only once their horizon (five minutes by
    default) is past it: a group that can hold one flushes at F only once the visit clock
    is past F too, and one that cannot does not wait (case alerts stay fast)."""
    cfg = config({"receiver": "a", "group_by": ["district", "kind"], "group_wait": "0s",
                  "routes": [{"matchers": ['kind="overdue"'], "receiver": "b"},
                             {"matchers": ['kind!="overdue"'], "receiver": "c", "group_by": ["district"]}]})
    d = Dispatcher(cfg, CAL)
    d.ingest(alert("C1", ts=T))
    d.ingest(alert("C2", ts=T, kind="warning"))
    out = d.advance(T + M, T + M, visit_now=T - 4 * M)
    assert [(n.note.receiver, [a.id.split(":")[0] for a in n.note.alerts]) for n in out] == [("b", ["C1"])]
    d.ingest(visit(ts=T - S))  # written once the GPS horizon passed it: not late for its group
    assert d.late == 0
    (n,) = d.advance(T + M, T + M, visit_now=T)
    assert n.note.receiver == "c" and n.note.at == T - S  # its own group_wait, on event time
    assert [a.id for a in n.note.alerts] == [f"offgrid:T00017:{T - S}"]
    assert d.advance(T + 5 * M, T + 5 * M, visit_now=T + 4 * M) == []  # the visit clock holds it
    (n,) = d.advance(T + 5 * M, T + 5 * M, visit_now=T + 5 * M)  # group_interval later
    assert n.note.at == T - S + 5 * M and {a.id.split(":")[0] for a in n.note.alerts} == {"C2", "offgrid"}


def test_no_visit_clock_means_the_case_clock_stands_in():
    cfg = config({"receiver": "a", "group_by": ["district"], "group_wait": "0s"})
    d = Dispatcher(cfg, CAL)
    d.ingest(visit(ts=T))
    assert len(d.advance(T, T)) == 1


def test_a_change_applied_ahead_of_a_waiting_group_is_still_seen_by_its_later_flush():
    """A case group ran ahead and applied the end of a silence that comes after a waiting
    visit group's next flush; that flush must not take the end as seen, or the group
    would never notify once the silence is over."""
    cfg = config({"receiver": "a", "group_by": ["district", "kind"], "group_wait": "0s", "group_interval": "1m"})
    d = Dispatcher(cfg, CAL)
    d.silence(_silence(T - H, T + 3 * M, ("kind", "=", "off_grid")))
    d.ingest(visit(ts=T))
    d.ingest(alert("C1", ts=T))
    assert [n.note.alerts[0].id[:2] for n in d.advance(T, T, visit_now=T)] == ["C1"]  # off_grid: silenced
    d.advance(T + 10 * M, T + 10 * M, visit_now=T + M)  # the case group runs past the silence's end
    late = d.advance(T + 10 * M, T + 10 * M, visit_now=T + 10 * M)
    assert [(n.note.at, n.note.alerts[0].id) for n in late] == [(T + 3 * M, f"offgrid:T00017:{T}")]
