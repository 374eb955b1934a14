"""docs/contract.md names every Redis key and every counter-key family the workers write.

The counter keys come from the workers' own projections fed a simulated day (and a few
states a short day may not reach), so a family added to the code but not to the
contract fails here, as does a documented family the workers no longer write.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter

import pytest

from gridpulse.catalog import CATEGORIES, DEPARTMENTS
from gridpulse.city import load_city
from gridpulse.clock import day_start_ms, local_day, parse_local
from gridpulse.loop.facts import DURATIONS, Rules
from gridpulse.loop.lifecycle import OPEN_STAGES
from gridpulse.rkeys import CASE, GPS, Keys
from gridpulse.visits.day import Terminal
from gridpulse.visits.facts import term_keys
from gridpulse.visits.rules import VisitRules
from gridpulse.visits.silence import silent_counts
from producers.simulator import Simulator
from scripts.gen_contract import DOC
from streams.case_state import CasePartition
from streams.gps_state import GpsPartition
from streams.wiring import lineages

TZ = "Asia/Shanghai"


def _alt(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


#: What each placeholder of the contract's key patterns stands for.
PLACEHOLDERS = {
    "<area>": r"\d{6}(?:\d{3}){0,3}",  # any level: 6, 9, 12 or 15 digits
    "<top>": r"\d{6}",  # a district or the city
    "<day>": r"\d+",
    "<minute>": r"\d+",
    "<bucket>": r"(?:2[0-7]|1\d|\d)",
    "<cat>": _alt(CATEGORIES),
    "<dept>": _alt([*DEPARTMENTS, "-"]),
    "<stage>": _alt(OPEN_STAGES),
    "<name>": _alt(n for n in DURATIONS if n != "handle"),
    "<worker>": r"[A-Za-z0-9_.:\-]+",
}


def redis_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("\n## Redis views"):text.index("\n## Command line")]


def documented_patterns() -> dict[str, re.Pattern]:
    """Every backticked counter-key pattern of the Redis views section, as a regex."""
    out = {}
    for raw in re.findall(r"`([^`\n]+)`", redis_section()):
        pat = raw.replace("\\|", "|")
        if "|" not in pat or not re.match(r"[a-z]", pat):
            continue  # not a key pattern (e.g. the separator itself)
        parts = re.split(r"(<[a-z ]+>)", pat)
        unknown = [p for p in parts[1::2] if p not in PLACEHOLDERS]
        assert not unknown, f"{pat}: placeholders {unknown} are not defined for this test"
        out[pat] = re.compile("".join(PLACEHOLDERS[p] if i % 2 else re.escape(p)
                                      for i, p in enumerate(parts)))
    return out


@pytest.fixture(scope="module")
def written() -> set[str]:
    """Every counter field the workers wrote over a simulated working day and evening."""
    city = load_city()
    lin = lineages(city)
    start = parse_local("2026-11-27T08:00:00", TZ)
    sim = Simulator(city, seed=3, start_ms=start, tz=TZ, terminals=8, cases_per_day=1200)
    msgs = sim.advance(sim.now + 14 * 3_600_000)
    cases = CasePartition(0, lin.__getitem__, Rules.load("", "", TZ), 60_000)
    rules = VisitRules(tz=TZ)
    gps = GpsPartition(0, lin.__getitem__, rules, city.grid_households, city.contains)
    for off, m in enumerate(msgs):
        (cases if m.topic == "case-events" else gps).apply(m.value, off)
        if off % 2000 == 1999:  # a worker's batch
            cases.advance()
            gps.advance()
    cases.advance()
    gps.advance()
    keys = set(+cases.counters) | set(+gps.counters)
    # States a short simulated day may not reach: a silent terminal, one off grid.
    grid = city.grids[0].code
    now = day_start_ms(local_day(start, TZ), TZ) + 10 * 3_600_000  # 10:00, on duty
    silent = Terminal("T1", seen=now - 20 * 60_000, grid=grid)
    off = Terminal("T2", seen=now - 60_000, grid=grid, off_since=now - 20 * 60_000, off_last=now - 60_000)
    for t in (silent, off):
        keys |= set(term_keys(t, now, rules, lin.__getitem__))
    keys |= set(silent_counts([grid], lin.__getitem__)) | {"at"}
    return keys


def test_every_counter_key_the_workers_write_is_in_the_contract(written):
    pats = documented_patterns()
    missing = Counter(k.split("|")[0] for k in written
                      if k != "at" and not any(p.fullmatch(k) for p in pats.values()))
    assert not missing, f"counter-key families written but not in docs/contract.md: {dict(missing)}"


def test_every_documented_counter_family_is_written(written):
    unused = [pat for pat, rx in documented_patterns().items() if not any(rx.fullmatch(k) for k in written)]
    assert not unused, f"docs/contract.md lists families no worker wrote: {unused}"


def test_every_redis_key_is_in_the_contract():
    section = redis_section()
    k = Keys("gp:")
    args = {"p": "<p>", "day": "<day>", "terminal": "<terminal>", "alert": "<alert id>", "key": "<key>",
            "receiver": "<receiver>"}
    for name, fn in inspect.getmembers(k, inspect.ismethod):
        if name.startswith("_") or name == "pattern":
            continue
        params = list(inspect.signature(fn).parameters)
        kinds = (CASE, GPS) if "kind" in params else (None,)
        for kind in kinds:
            key = fn(*[kind if p == "kind" else args[p] for p in params])
            assert f"`{key}`" in section, f"Keys.{name}: {key} is not in the contract's table"


def test_the_counter_horizon_reads_the_day_where_the_contract_puts_it(written):
    """Every written key whose documented pattern has a ``<day>`` is dropped by that day
    (gridpulse.loop.horizon); a key whose pattern has none is never dropped."""
    from gridpulse.loop.horizon import key_day
    patterns = documented_patterns()
    days = 0
    for key in written - {"at"}:  # ("at": the time the counters were written)
        pattern = next(p for p, rx in patterns.items() if rx.fullmatch(key))
        fields = pattern.split("|")
        if "<day>" in fields:
            assert key_day(key) == int(key.split("|")[fields.index("<day>")]), (key, pattern)
            days += 1
        else:
            assert key_day(key) is None, (key, pattern)
    assert days > 100
