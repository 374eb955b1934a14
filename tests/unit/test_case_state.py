"""The incremental case projection equals the plain sum over cases, in any arrival order."""

import random
from collections import Counter

import pytest

from gridpulse.clock import local_day, parse_local
from gridpulse.loop.facts import CaseInfo, Rules, alerts, contribution, typical_from
from gridpulse.loop.lifecycle import fold
from gridpulse.schemas import CaseEvent
from streams.case_state import CasePartition

TZ = "Asia/Shanghai"
T0 = parse_local("2026-11-27T09:00:00", TZ)  # a Friday
MIN = 60_000
LATE = 60_000
LINEAGE = {
    "330203001001001": ("330203001001001", "330203001001", "330203001", "330203", "330200"),
    "330212002003004": ("330212002003004", "330212002003", "330212002", "330212", "330200"),
}
RULES = Rules.load("", "", TZ)


def ev(case, n, stage, minutes, dept=None, grid="330203001001001", sev=3, cat="sanitation", sat=None):
    return CaseEvent(id=f"{case}.{n}", case=case, type=stage, ts=T0 + minutes * MIN, grid=grid,
                     category=cat, severity=sev, dept=dept, satisfaction=sat,
                     actor=f"W{case}" if stage == "reported" else None)


def loop(case, t, grid="330203001001001", handle_after=60, sev=3):
    """A case through the whole loop, starting ``t`` minutes after T0."""
    return [ev(case, 0, "reported", t, grid=grid, sev=sev), ev(case, 1, "registered", t + 5, grid=grid, sev=sev),
            ev(case, 2, "dispatched", t + 20, "sanitation", grid, sev),
            ev(case, 3, "accepted", t + 30, "sanitation", grid, sev),
            ev(case, 4, "handled", t + 20 + handle_after, "sanitation", grid, sev),
            ev(case, 5, "verified", t + 20 + handle_after + 30, grid=grid, sev=sev),
            ev(case, 6, "closed", t + 20 + handle_after + 40, grid=grid, sev=sev),
            ev(case, 7, "evaluated", t + 20 + handle_after + 100, grid=grid, sev=sev, sat=4)]


def part():
    return CasePartition(0, LINEAGE.__getitem__, RULES, LATE)


def batch_sum(events, now):
    """The oracle in miniature: fold each case, sum its contribution at ``now``."""
    by_case = {}
    for e in events:
        by_case.setdefault(e.case, {})[e.id] = e
    total, out_alerts, cases = Counter(), {}, []
    for case, evs in by_case.items():
        view = fold(evs.values())
        rep = min((e for e in evs.values() if e.type == "reported"), key=lambda e: e.ts)
        info = CaseInfo(case, LINEAGE[rep.grid], rep.category, rep.severity, rep.ts, rep.actor or "")
        total.update(contribution(view, info, now, RULES))
        cases.append((view, info))
    for view, info in cases:
        typical = lambda d, c, day: typical_from(total.get, d, c, day)  # noqa: E731
        out_alerts.update({a.id: a for a in alerts(view, info, now - LATE, RULES, typical=typical)})
    return +total, out_alerts


def run(events):
    st = part()
    sent = {}
    for off, e in enumerate(events):
        st.apply(e, off)
        st.advance()
        for a in st.alerts_out:
            sent[a.id] = a
        st.clear_dirty()
    return st, sent


EVENTS = (loop("a", 0) + loop("b", 10, "330212002003004", handle_after=600)  # b is late
          + loop("c", 30, sev=1)[:3]  # urgent, dispatched and left: escalates
          + [ev("d", 0, "reported", 40), ev("d", 1, "registered", 41)]  # never dispatched
          + [ev("r", 0, "reported", 50), ev("r", 1, "registered", 51),  # back to the same dept
             ev("r", 2, "dispatched", 52, "urban"), ev("r", 3, "returned", 60, "urban"),
             ev("r", 4, "dispatched", 70, "urban"), ev("r", 5, "handled", 80, "urban")]
          + [ev("o", 0, "reported", 100), ev("o", 1, "registered", 101),  # handled twice
             ev("o", 2, "dispatched", 102, "urban"), ev("o", 3, "handled", 110, "urban"),
             ev("o", 4, "verified", 115), ev("o", 5, "reopened", 120),
             ev("o", 6, "dispatched", 121, "urban"), ev("o", 7, "handled", 129, "urban"),
             ev("o", 8, "verified", 130), ev("o", 9, "closed", 131)]
          + [ev("s", 0, "reported", 140), ev("s", 1, "registered", 141),  # reassigned
             ev("s", 2, "dispatched", 142, "urban"), ev("s", 3, "reassigned", 150, "sanitation"),
             ev("s", 4, "handled", 170, "sanitation")]
          + [ev("z", 0, "reported", 24 * 60)])  # moves the watermark a day on


def test_in_order_equals_batch_sum():
    st, sent = run(sorted(EVENTS, key=lambda e: e.ts))
    want, want_alerts = batch_sum(EVENTS, st.watermark)
    assert +st.counters == want
    assert sent == want_alerts


@pytest.mark.parametrize("seed", range(12))
def test_disorder_within_the_lateness_and_duplicates_change_nothing(seed):
    rng = random.Random(seed)
    events = sorted(EVENTS + rng.sample(EVENTS, 8), key=lambda e: e.ts + rng.uniform(0, LATE * 0.9))
    st, sent = run(events)
    want, want_alerts = batch_sum(EVENTS, st.watermark)
    assert +st.counters == want
    assert sent == want_alerts


def test_counters_do_not_depend_on_any_order_within_the_lateness():
    # With a lateness longer than the whole log, any arrival order is "within" it.
    events = [e for e in EVENTS if e.case in ("a", "b", "z")]
    rng = random.Random(1)
    for _ in range(10):
        shuffled = rng.sample(events, len(events))
        st = CasePartition(0, LINEAGE.__getitem__, RULES, 10 * 86_400_000)
        for off, e in enumerate(shuffled):
            st.apply(e, off)
        st.advance()
        assert +st.counters == batch_sum(events, st.watermark)[0]


def test_alerts_have_stable_ids_and_the_moments_they_happened():
    st, sent = run(sorted(EVENTS, key=lambda e: e.ts))
    kinds = Counter(a.kind for a in sent.values())
    assert kinds["overdue"] >= 2 and kinds["resolved"] >= 1 and kinds["escalation"] >= 3
    b = [a for a in sent.values() if a.case == "b" and a.kind == "overdue"]
    assert len(b) == 1 and b[0].id.startswith("b:handle:") and b[0].ts == b[0].deadline
    assert b[0].district == "330212" and b[0].dept == "sanitation"


def test_replayed_offsets_and_duplicate_ids_are_ignored():
    st = part()
    assert st.apply(ev("a", 0, "reported", 0), 5)
    assert not st.apply(ev("b", 0, "reported", 1), 5)  # same offset again: a replay
    assert not st.apply(ev("a", 0, "reported", 0), 6)  # same id again: a duplicate
    assert st.counters["open|330200"] == 1


def test_rule_breaking_event_waits_for_the_lateness_then_is_dead_lettered():
    st = part()
    st.apply(ev("a", 0, "reported", 0), 0)
    st.apply(ev("a", 1, "registered", 1), 1)
    st.apply(ev("a", 3, "handled", 2, "urban"), 2, b'{"raw":"bytes"}')  # no dispatch (yet)
    st.advance()
    assert not st.dead_out
    st.apply(ev("x", 0, "reported", 10), 3)  # the watermark passes handled + lateness
    st.advance()
    assert [(d.reason, d.raw) for _, d in st.dead_out] == [
        ("handled cannot follow registered", b'{"raw":"bytes"}')]
    assert st.cases["a"].dead == ["a.3"] and all(h.id != "a.3" for h in st.cases["a"].history)


def test_a_late_predecessor_within_the_lateness_makes_it_valid():
    st = part()
    for off, e in enumerate([ev("a", 0, "reported", 0), ev("a", 1, "registered", 1),
                             ev("a", 3, "accepted", 3, "urban"), ev("a", 2, "dispatched", 2, "urban"),
                             ev("x", 0, "reported", 30)]):
        st.apply(e, off)
        st.advance()
    assert not st.dead_out and st.views["a"].stage == "accepted"


def test_the_deadline_index_wakes_only_due_cases():
    st = part()
    for i in range(50):
        st.apply(ev(f"c{i}", 0, "reported", 0), i)
    st.apply(ev("u", 0, "reported", 0, sev=1), 50)
    st.apply(ev("u", 1, "registered", 1, sev=1), 51)
    st.advance()
    st.apply(ev("x", 0, "reported", 40), 52)  # urgent dispatch clock (30 min) runs out
    assert st.advance() == 1
    assert st.counters["overdue|330200"] == 1


def test_rebuild_from_records_gives_the_same_counters():
    st, _ = run(sorted(EVENTS, key=lambda e: e.ts))
    again = part()
    again.cases, again.watermark, again.offset = st.cases, st.watermark, st.offset
    list(again.rebuild(every=3))
    assert +again.counters == +st.counters and not again.dirty_keys


def test_only_handling_times_repeat_in_a_contribution():
    # refresh() takes set differences unless a key repeats; only a case handled more than
    # once in one bucket of one day repeats one ("o": twice 8 minutes, the same day).
    st, _ = run(sorted(EVENTS, key=lambda e: e.ts))
    repeated = {case: sorted({k for k in keys if keys.count(k) > 1}) for case, keys in st.contrib.items()}
    day = local_day(T0, TZ)
    assert {c: ks for c, ks in repeated.items() if ks} == {"o": sorted(
        [f"dur|{a}|handle|{day}|5" for a in ("330203", "330200")]
        + [f"dur|{a}|d:urban|handle|{day}|5" for a in ("330203", "330200")]
        + [f"h|urban|sanitation|{day}|5"])}
    assert st.counters[f"dur|330200|d:urban|handle|{day}|5"] == 3  # "o" twice, "r" once
    assert st.counters[f"disp|330200|d:urban|{day}"] == 3  # "o", "r", "s": cases, not dispatches


def handle_hist(counters, area, dept=None):
    """(day, bucket) -> count of the handle histogram of ``area`` (of ``dept`` in it)."""
    mid = f"d:{dept}|handle" if dept else "handle"
    out = Counter()
    for k, n in counters.items():
        parts = k.split("|")
        if k.startswith(f"dur|{area}|{mid}|") and len(parts) == 4 + mid.count("|") + 1:
            out[(int(parts[-2]), int(parts[-1]))] += n
    return +out


def test_handling_is_timed_from_the_dispatch_that_gave_the_department_the_case():
    st, _ = run(sorted(EVENTS, key=lambda e: e.ts))
    day = local_day(T0, TZ)
    urban = handle_hist(st.counters, "330200", "urban")
    sanitation = handle_hist(st.counters, "330200", "sanitation")
    # "r": returned by urban at 60, dispatched to urban again at 70, handled at 80: 10 min
    # (bucket 5), not 28 from the first dispatch. "s": urban had it 142-150, then
    # sanitation from its reassignment at 150 to 170: 20 min (bucket 7), sanitation's.
    assert urban[(day, 5)] == 1 + 2  # "r", and "o" twice
    assert sanitation[(day, 7)] == 1
    assert not [k for k in st.counters if k.startswith("dur|330200|d:urban|handle|") and k.endswith("|7")]
    # An area's histogram is the sum of its departments' (the supervisor's expectation).
    for area in ("330203", "330212", "330200"):
        total = Counter()
        for dept in ("urban", "sanitation"):
            total += handle_hist(st.counters, area, dept)
        assert handle_hist(st.counters, area) == total, area


def test_likely_to_breach_uses_what_the_department_took_before():
    # Thursday: six sanitation cases that urban took 3h30 to handle (of 4 working hours).
    thu = -24 * 60
    history = []
    for i in range(6):
        history += loop(f"h{i}", thu + i, handle_after=210)
    # Friday 09:00: a new one is dispatched; with a typical 3.5-4 h, it is likely to
    # breach well before the 80% warning.
    today = loop("n", 0)[:3] + [ev("x", 0, "reported", 180)]
    events = history + today
    st, sent = run(sorted(events, key=lambda e: e.ts))
    likely = [a for a in sent.values() if a.kind == "likely_breach"]
    assert [a.case for a in likely] == ["n"]
    warn = [a for a in sent.values() if a.case == "n" and a.kind == "warning"]
    assert not warn or likely[0].ts < warn[0].ts
    assert likely[0].ts == likely[0].deadline - 240 * MIN  # the p75 edge: 240 min
    want, want_alerts = batch_sum(events, st.watermark)
    assert +st.counters == want and sent == want_alerts


def test_nothing_learned_nothing_predicted():
    st, sent = run(sorted(loop("a", 0), key=lambda e: e.ts))
    assert not [a for a in sent.values() if a.kind == "likely_breach"]


def test_open_case_rows_follow_stage_overdue_and_closure():
    st = part()
    st.apply(ev("u", 0, "reported", 0, sev=1), 0)
    st.apply(ev("u", 1, "registered", 1, sev=1), 1)
    st.advance()
    row = st.row("u")
    assert (row["stage"], row["overdue"], row["district"]) == ("registered", False, "330203")
    assert row["deadline"] > T0 and "u" in st.dirty_rows
    st.clear_dirty()
    st.apply(ev("x", 0, "reported", 40), 2)  # the urgent dispatch clock runs out
    st.advance()
    assert st.row("u")["overdue"] and "u" in st.dirty_rows
    for i, e in enumerate(loop("u", 0, sev=1)[2:], start=3):
        st.apply(e, i)
        st.advance()
    assert "u" not in st.rows and "u" in st.dirty_rows  # closed: gone from the lists
    ref, _ = run(sorted(EVENTS, key=lambda e: e.ts))
    assert len(ref.rows) == ref.counters["open|330200"]
    assert sum(r[7] for r in ref.rows.values()) == ref.counters["overdue|330200"]


def test_buckets_and_quantiles_as_the_contract_words_them():
    from gridpulse.loop.facts import DURATION_EDGES_MIN as E, bucket
    from gridpulse.views import quantile_edge

    # Bucket b holds E[b-1] < minutes <= E[b]; bucket 0 holds <= 1 (zero too); 27 the rest.
    edges = [0, MIN, MIN + 1, 43200 * MIN, 43200 * MIN + 1]
    assert [bucket(d) for d in edges] == [0, 0, 1, 26, 27]
    for b, e in enumerate(E):
        assert bucket(e * MIN) == b and bucket(e * MIN + 1) == b + 1
    # The q-quantile is the edge of the bucket of the ceil(q n)-th shortest duration.
    rng = random.Random(3)
    for _ in range(500):
        durations = sorted(rng.choice([0, 1, 5, 44, 45, 46, 600, 50000]) * MIN
                           for _ in range(rng.randint(1, 40)))
        hist = Counter(bucket(d) for d in durations)
        for q in (0.5, 0.75, 0.9):
            k = -(-int(q * 100) * len(durations) // 100)  # ceil(q n), in integers
            b = bucket(durations[k - 1])
            assert quantile_edge(hist, q) == (E[b] if b < len(E) else None)
    assert quantile_edge({}, 0.5) is None


def test_only_accepted_events_and_ticks_move_now():
    st = part()
    st.apply(ev("A", 0, "reported", 0), 0)
    st.apply(ev("A", 1, "registered", 5), 1)
    assert st.watermark == T0 + 5 * MIN
    # Handled before it was dispatched, dated a day later: refused, so "now" stays.
    st.apply(ev("A", 2, "handled", 24 * 60, "sanitation"), 2)
    assert st.watermark == T0 + 5 * MIN
    # Its predecessor, late: now both are valid, and the later one moves "now".
    st.apply(ev("A", 3, "dispatched", 24 * 60 - 30, "sanitation"), 3)
    assert st.watermark == T0 + 24 * 60 * MIN


def test_a_tick_moves_now_and_wakes_the_clocks_it_passes():
    st = part()
    st.apply(ev("A", 0, "reported", 0, sev=1), 0)
    st.apply(ev("A", 1, "registered", 1, sev=1), 1)
    st.advance()
    assert not st.counters["overdue|330200"]
    assert st.tick(T0 + 60 * MIN, 2) and st.watermark == T0 + 60 * MIN
    st.advance()
    assert st.counters["overdue|330200"] == 1  # urgent: dispatch within 30 minutes
    assert not st.tick(T0 + 90 * MIN, 2)  # already applied (a replay after a crash)
    assert st.tick(T0, 3) and st.watermark == T0 + 60 * MIN  # never back
