"""SLA policy: per-category deadlines, warnings, escalation and the policy file checks.

Decisions pinned here: severity 1 runs 24/7 (a policy "day" = 24 h), others on working
time (a "day" = 9 working hours); the deadline instant itself is overdue.
"""

import re

import pytest

from gridpulse.catalog import CATEGORIES, SEVERITIES
from gridpulse.clock import HOUR_MS, MINUTE_MS, parse_local
from gridpulse.loop.sla import CLOCKS, DEFAULT_POLICY, load_calendar, load_policy

TZ = "Asia/Shanghai"
CAL = load_calendar()
POLICY = load_policy()
FRI_10 = "2026-11-27T10:00"  # a Friday: the weekend shows in every working deadline


def L(text: str) -> int:
    return parse_local(text, TZ)


HANDLE_CASES = [
    # (category, severity 1 deadline (24/7), severity 3 deadline (working), sev 3 working hours)
    ("dispute", "2026-12-02T10:00", "2026-12-04T10:00", 45),
    ("security", "2026-11-28T10:00", "2026-11-30T10:00", 9),
    ("work_safety", "2026-11-28T10:00", "2026-11-30T10:00", 9),
    ("fire", "2026-11-27T22:00", "2026-11-30T10:00", 9),
    ("food_drug", "2026-11-29T10:00", "2026-12-01T10:00", 18),
    ("sanitation", "2026-11-27T14:00", "2026-11-27T14:00", 4),
    ("street_order", "2026-11-27T18:00", "2026-11-30T09:00", 8),
    ("facility", "2026-11-29T10:00", "2026-12-01T10:00", 18),
    ("environment", "2026-11-29T10:00", "2026-12-01T10:00", 18),
    ("livelihood", "2026-11-30T10:00", "2026-12-02T10:00", 27),
    ("special_groups", "2026-11-28T10:00", "2026-11-30T10:00", 9),
    ("migrants", "2026-11-30T10:00", "2026-12-02T10:00", 27),
]


def test_every_category_has_a_case():
    assert {c[0] for c in HANDLE_CASES} == set(CATEGORIES)


@pytest.mark.parametrize("cat,urgent,normal,hours", HANDLE_CASES)
def test_handle_deadline(cat, urgent, normal, hours):
    u = POLICY.clock("handle", cat, 1, L(FRI_10), CAL)
    n = POLICY.clock("handle", cat, 3, L(FRI_10), CAL)
    assert (u.deadline, u.working, u.allotted_ms) == (L(urgent), False, L(urgent) - L(FRI_10))
    assert (n.deadline, n.working, n.allotted_ms) == (L(normal), True, hours * HOUR_MS)
    assert POLICY.clock("handle", cat, 2, L(FRI_10), CAL) == n  # 2 and 4 run like 3
    assert POLICY.clock("handle", cat, 4, L(FRI_10), CAL) == n


OTHER_CLOCKS = [
    # (clock, severity, start, deadline)
    ("dispatch", 1, "2026-11-28T23:50", "2026-11-29T00:20"),  # 30 min, weekend or not
    ("dispatch", 3, "2026-11-27T17:00", "2026-11-30T10:00"),  # 2 working hours
    ("dispatch", 3, "2026-11-28T23:50", "2026-11-30T10:30"),  # registered in the weekend
    ("verify", 1, "2026-11-27T17:00", "2026-11-27T21:00"),  # 4 h
    ("verify", 3, "2026-11-27T17:00", "2026-11-30T17:00"),  # 1 working day
    ("handle", 3, "2026-09-30T16:00", "2026-10-08T11:00"),  # sanitation over golden week
]


@pytest.mark.parametrize("name,sev,start,deadline", OTHER_CLOCKS)
def test_other_clocks(name, sev, start, deadline):
    assert POLICY.clock(name, "sanitation", sev, L(start), CAL).deadline == L(deadline)


INSTANT_CASES = [
    # (category, severity, warn_at, escalation instants town/district/city)
    ("sanitation", 3, "2026-11-27T13:12", ("2026-11-27T16:00", "2026-11-30T09:00", "2026-11-30T13:00")),
    ("street_order", 3, "2026-11-27T16:24", ("2026-11-30T13:00", "2026-11-30T17:00", "2026-12-01T16:00")),
    ("security", 3, "2026-11-27T17:12", ("2026-11-30T14:30", "2026-12-01T10:00", "2026-12-02T10:00")),
    ("dispute", 3, "2026-12-03T10:00", ("2026-12-08T14:30", "2026-12-11T10:00", "2026-12-18T10:00")),
    ("security", 1, "2026-11-28T05:12", ("2026-11-28T22:00", "2026-11-29T10:00", "2026-11-30T10:00")),
    ("fire", 1, "2026-11-27T19:36", ("2026-11-28T04:00", "2026-11-28T10:00", "2026-11-28T22:00")),
]


@pytest.mark.parametrize("cat,sev,warn,escalations", INSTANT_CASES)
def test_warn_and_escalation_instants(cat, sev, warn, escalations):
    c = POLICY.clock("handle", cat, sev, L(FRI_10), CAL)
    assert c.warn_at == L(warn)
    assert c.escalations == tuple(L(e) for e in escalations)
    cal = POLICY.calendar_for(sev, CAL)
    assert cal.between(c.start, c.warn_at) == round(0.8 * c.allotted_ms)
    assert [cal.between(c.start, e) for e in c.escalations] == [round(m * c.allotted_ms) for m in (1.5, 2, 3)]


SEC3 = POLICY.clock("handle", "security", 3, L(FRI_10), CAL)
BOUNDARIES = [
    # (now, status, escalation level)
    (SEC3.start - 1, "ok", 0),
    (SEC3.start, "ok", 0),
    (SEC3.warn_at - 1, "ok", 0),
    (SEC3.warn_at, "warning", 0),
    (SEC3.deadline - 1, "warning", 0),
    (SEC3.deadline, "overdue", 0),  # the deadline instant itself is late
    (SEC3.escalations[0] - 1, "overdue", 0),
    (SEC3.escalations[0], "overdue", 1),
    (SEC3.escalations[1] - 1, "overdue", 1),
    (SEC3.escalations[1], "overdue", 2),
    (SEC3.escalations[2], "overdue", 3),
    (SEC3.escalations[2] + 30 * 24 * HOUR_MS, "overdue", 3),
]


@pytest.mark.parametrize("now,status,level", BOUNDARIES)
def test_status_and_escalation_at_boundaries(now, status, level):
    assert POLICY.status(SEC3, now, CAL) == status
    assert POLICY.escalation_level(SEC3, now) == level
    assert POLICY.level_name(level) == (None, "town", "district", "city")[level]


def test_overdue_at_close_stays_overdue_over_the_weekend():
    c = POLICY.clock("handle", "street_order", 3, L("2026-11-27T09:30"), CAL)  # 8 h: due 17:30 Fri
    assert c.deadline == L("2026-11-27T17:30")
    for now in ("2026-11-27T17:30", "2026-11-28T12:00", "2026-11-30T08:29"):
        assert POLICY.status(c, L(now), CAL) == "overdue"
        assert POLICY.remaining_ms(c, L(now), CAL) == 0


REMAINING = [
    # (now, remaining working ms) for security sev 3 from Fri 10:00 (9 working hours)
    ("2026-11-27T09:00", 9 * HOUR_MS),  # not started yet
    (FRI_10, 9 * HOUR_MS),
    ("2026-11-27T17:00", 2 * HOUR_MS),
    ("2026-11-29T12:00", 90 * MINUTE_MS),  # frozen over the weekend
    ("2026-11-30T10:00", 0),
    ("2026-11-30T12:00", -2 * HOUR_MS),
    ("2026-12-01T09:00", -8 * HOUR_MS),  # Mon 7.5 h + Tue 0.5 h
]


@pytest.mark.parametrize("now,left", REMAINING)
def test_remaining_in_working_time(now, left):
    assert POLICY.remaining_ms(SEC3, L(now), CAL) == left


def test_remaining_urgent_is_wall_time():
    c = POLICY.clock("handle", "security", 1, L(FRI_10), CAL)
    assert POLICY.remaining_ms(c, L("2026-11-28T09:00"), CAL) == HOUR_MS
    assert POLICY.remaining_ms(c, L("2026-11-28T12:00"), CAL) == -2 * HOUR_MS


def test_default_policy_is_complete():
    assert set(POLICY.allotments) == {(n, c, s) for n in CLOCKS for c in CATEGORIES for s in SEVERITIES}
    assert (POLICY.warn_fraction, POLICY.escalation_multiples) == (0.8, (1.5, 2.0, 3.0))


def _policy(tmp_path, text):
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def test_severity_scale_and_category_override(tmp_path):
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace("# scale = 0.5", "scale = 0.5")
    p = _policy(tmp_path, text)
    start = L(FRI_10)
    assert p.clock("handle", "dispute", 1, start, CAL).allotted_ms == 60 * HOUR_MS  # 5 x 24 h / 2
    assert p.clock("handle", "fire", 1, start, CAL).allotted_ms == 12 * HOUR_MS  # own entry: not scaled
    assert p.clock("handle", "dispute", 3, start, CAL).allotted_ms == 45 * HOUR_MS
    assert p.clock("dispatch", "dispute", 1, start, CAL).allotted_ms == 30 * MINUTE_MS


DEFAULT_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")
BAD_POLICIES = [
    # (why, (old, new) replacement in the default file or text to append, key named)
    ("unknown clock", ("", '[handel]\ndefault = "1h"\n'), "handel"),
    ("unknown category", ('fire = "1d"', 'fyre = "1d"'), "handle.fyre"),
    ("unknown category under a severity", ('fire = "12h"', 'fires = "12h"'), "handle.severity.1.fires"),
    ("unknown severity", ("", '[verify.severity.5]\ndefault = "1h"\n'), "verify.severity.5"),
    ("typo in setting", ("warn_fraction =", "warn_fration ="), "warn_fration"),
    ("bad duration", ('sanitation = "4h"', 'sanitation = "4 hours"'), "handle.sanitation"),
    ("zero duration", ('default = "2h"', 'default = "0h"'), "dispatch.default"),
    ("bad scale", ("# scale = 0.5", "scale = -1"), "handle.severity.1.scale"),
    ("category left without time", ('dispute = "5d"', ""), "handle.dispute"),
    ("warn fraction out of range", ("warn_fraction = 0.8", "warn_fraction = 1.5"), "warn_fraction"),
    ("multiples not increasing", ("[1.5, 2.0, 3.0]", "[2.0, 1.5, 3.0]"), "escalation.multiples"),
    ("levels do not match multiples", ('"district", "city"]', '"district"]'), "escalation.levels"),
    ("urgent severity unknown", ("urgent_severities = [1]", "urgent_severities = [0]"), "urgent_severities"),
]


@pytest.mark.parametrize("why,edit,key", BAD_POLICIES, ids=[c[0] for c in BAD_POLICIES])
def test_bad_policy_names_the_key(tmp_path, why, edit, key):
    old, new = edit
    text = DEFAULT_TEXT + new if not old else DEFAULT_TEXT.replace(old, new, 1)
    assert text != DEFAULT_TEXT
    with pytest.raises(ValueError, match=re.escape(key)):
        _policy(tmp_path, text)


def test_unknown_clock_or_category_at_runtime():
    with pytest.raises(ValueError, match="nope"):
        POLICY.clock("handle", "nope", 3, 0, CAL)
    with pytest.raises(ValueError, match="close"):
        POLICY.clock("close", "fire", 3, 0, CAL)
