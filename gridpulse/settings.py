"""The one settings object: every knob is an environment variable with a sane default.

Each field declares, in one place, its variable, default, doc and the rule of what it
accepts (:mod:`gridpulse.settings_rules`). :func:`load` checks every variable that is set
and reports all the bad ones at once, one line each (:class:`SettingsError`). The
README's configuration table is generated from ``FIELDS`` (``gridpulse settings
--markdown``), so the code and the docs cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from .loop.horizon import MIN_DAYS as MIN_KPI_DAYS
from .settings_rules import (Bootstrap, CityRef, ExistingFile, Flag, Float, HourRange, Int, IsoTime,
                             LogLevel, OneOf, Port, RedisUrl, Rule, Text, Zone, rule_for_type)


def _env(name: str, default: Any, doc: str, *, rule: Rule | None = None) -> Any:
    """Declare a setting backed by environment variable ``name``, accepting what ``rule`` does.

    ``rule`` is optional only so that a field added without one still loads (by its
    type); tests/unit/test_settings.py fails until it has one.
    """
    return field(default=default, metadata={"env": name, "doc": doc, "rule": rule})


def _check_sla(path: str) -> None:
    from .loop.sla import load_policy
    load_policy(path)


def _check_holidays(path: str) -> None:
    from .loop.calendar import load_calendar
    load_calendar(path)


_POSITIVE = Float(0, lo_open=True)
_KAFKA_NAME = "letters, digits, '.', '_' and '-' (Kafka names)"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read from the environment by :func:`load`."""

    kafka_bootstrap: str = _env(
        "KAFKA_BOOTSTRAP", "",
        "Kafka bootstrap servers (host:port,...). Empty: `gridpulse up` starts an embedded broker.",
        rule=Bootstrap())
    redis_url: str = _env(
        "REDIS_URL", "",
        "Redis URL. Empty: `gridpulse up` uses redis://127.0.0.1:6379/0 if reachable, else starts an embedded redis-server.",
        rule=RedisUrl())
    kafka_idempotent: bool = _env(
        "KAFKA_IDEMPOTENT", False,
        "Turn on the idempotent producer (do on a real cluster; the embedded Tansu broker refuses InitProducerId).",
        rule=Flag())
    topic_prefix: str = _env(
        "GRIDPULSE_TOPIC_PREFIX", "gp.",
        "Prefix of every Kafka topic name (lets several deployments or test runs share a broker).",
        rule=Text(r"[A-Za-z0-9._-]+", _KAFKA_NAME))
    partitions: int = _env(
        "GRIDPULSE_PARTITIONS", 4,
        "Partitions of each topic gridpulse creates; the unit of parallelism across workers.",
        rule=Int(1, 1024))
    topic_replication: int = _env(
        "GRIDPULSE_TOPIC_REPLICATION", 1,
        "Replicas of each topic gridpulse creates (`gridpulse up`, `gridpulse topics`): 3 on a "
        "city's cluster, 1 on the embedded broker.",
        rule=Int(1, 16))
    topic_min_isr: int = _env(
        "GRIDPULSE_TOPIC_MIN_ISR", 2,
        "min.insync.replicas of each topic gridpulse creates with more than one replica (every "
        "producer writes with acks=all, so a write needs this many replicas); at most the "
        "replication.",
        rule=Int(1, 16))
    redis_prefix: str = _env(
        "GRIDPULSE_REDIS_PREFIX", "gp:",
        "Prefix of every Redis key gridpulse writes.",
        rule=Text(r"\S+", "text without spaces"))
    city: str = _env(
        "GRIDPULSE_CITY", "ningbo",
        "City model to load: a bundled name, or a directory holding city.json.gz.",
        rule=CityRef())
    timezone: str = _env(
        "GRIDPULSE_TZ", "Asia/Shanghai",
        "Time zone of the city's working day (\"today\" and per-minute buckets).",
        rule=Zone())
    worker_id: str = _env(
        "GRIDPULSE_WORKER_ID", "gridpulse-worker",
        "Faust app id: the consumer group all workers of one deployment share.",
        rule=Text(r"[A-Za-z0-9._-]+", _KAFKA_NAME))
    worker_web_port: int = _env(
        "GRIDPULSE_WORKER_WEB_PORT", 6066,
        "Port of the Faust worker's own web server (status pages).",
        rule=Port())
    worker_feed: str = _env(
        "GRIDPULSE_WORKER_FEED", "batch",
        "How the Faust worker hands records to the processors: `batch` (Faust's consumer "
        "delivers into a batch queue; fast) or `stream` (agents with `take_events`; "
        "idiomatic, ~10x more CPU per message, see docs/performance.md).",
        rule=OneOf(("batch", "stream")))
    batch_max: int = _env(
        "GRIDPULSE_BATCH_MAX", 5000,
        "Most events a worker takes from a stream in one batch.",
        rule=Int(1))
    batch_within: float = _env(
        "GRIDPULSE_BATCH_WITHIN", 0.05,
        "Seconds a worker waits to fill a batch before processing what it has.",
        rule=Float(0))
    allowed_lateness_s: float = _env(
        "GRIDPULSE_ALLOWED_LATENESS_S", 60.0,
        "Event-time seconds an out-of-order case event may arrive late and still be applied as "
        "if in order; alerts and rule-breaking verdicts wait this long before they are final.",
        rule=Float(0))
    clock_ahead_s: float = _env(
        "GRIDPULSE_CLOCK_AHEAD_S", 300.0,
        "An event dated more than this many seconds after its Kafka record's timestamp (when "
        "the broker or gateway received it) comes from a terminal with a wrong clock: it is "
        "dead-lettered as \"clock ahead\", not applied. 0: no check.",
        rule=Float(0))
    clock_tick_s: float = _env(
        "GRIDPULSE_CLOCK_TICK_S", 5.0,
        "Every this many seconds a worker writes a clock tick (the newest watermark of all case "
        "partitions) to each case partition it owns that is behind, so a quiet partition's "
        "deadlines still advance. 0: no ticks.",
        rule=Float(0, 3600))
    snapshot_s: float = _env(
        "GRIDPULSE_SNAPSHOT_S", 600.0,
        "Every this many seconds a worker writes an image of each partition it owns that moved "
        "to the compacted topic `snapshots`, so a rebuild after a Redis loss replays only the "
        "log since (docs/contract.md, Rebuilding the views). 0: no snapshots (a rebuild then "
        "replays the whole log).",
        rule=Float(0, 86_400))
    snapshot_days: int = _env(
        "GRIDPULSE_SNAPSHOT_DAYS", 2,
        "Terminal-days (routes, stays, day summaries) a GPS partition's image carries, today "
        "included; older ones are not restored after a Redis loss.",
        rule=Int(0, 31))
    sla_file: str = _env(
        "GRIDPULSE_SLA_FILE", "",
        "TOML SLA policy (deadlines per clock, category, severity). Empty: the bundled "
        "gridpulse/loop/sla_default.toml.",
        rule=ExistingFile("an SLA policy TOML file (format: gridpulse/loop/sla_default.toml)", _check_sla))
    holidays_file: str = _env(
        "GRIDPULSE_HOLIDAYS_FILE", "",
        "TOML working calendar (hours, holidays, make-up working days). Empty: the bundled "
        "gridpulse/loop/holidays.toml.",
        rule=ExistingFile("a working-calendar TOML file (format: docs/working-calendar.md)", _check_holidays))
    active_worker_minutes: int = _env(
        "GRIDPULSE_ACTIVE_WORKER_MINUTES", 10,
        "A grid worker counts as active (shown on the map) if a fix arrived within this many minutes.",
        rule=Int(1))
    gps_lateness_s: float = _env(
        "GRIDPULSE_GPS_LATENESS_S", 300.0,
        "Event-time seconds a GPS fix may arrive behind the newest fix of its partition and "
        "still be used; older fixes are dropped as too late. Visits wait this long to be final.",
        rule=Float(0))
    fix_max_accuracy_m: float = _env(
        "GRIDPULSE_FIX_MAX_ACCURACY_M", 50.0, "GPS fixes less accurate than this (metres) are dropped.",
        rule=_POSITIVE)
    max_speed_mps: float = _env(
        "GRIDPULSE_MAX_SPEED_MPS", 9.0,
        "A fix that would need a faster move from the previous one (m/s) is dropped as a jump.",
        rule=_POSITIVE)
    stay_radius_m: float = _env(
        "GRIDPULSE_STAY_RADIUS_M", 30.0, "A stay is a run of fixes within this many metres of its first.",
        rule=_POSITIVE)
    stay_min_minutes: float = _env(
        "GRIDPULSE_STAY_MIN_MINUTES", 3.0, "... lasting at least this many minutes; a stay near a household is a visit.",
        rule=_POSITIVE)
    visit_match_m: float = _env(
        "GRIDPULSE_VISIT_MATCH_M", 40.0, "A stay matches the nearest household of the grid within this many metres.",
        rule=_POSITIVE)
    track_gap_minutes: float = _env(
        "GRIDPULSE_TRACK_GAP_MINUTES", 10.0, "No fix for this long ends a track segment (and any stay in it).",
        rule=_POSITIVE)
    silent_terminal_minutes: float = _env(
        "GRIDPULSE_SILENT_TERMINAL_MINUTES", 15.0,
        "A terminal seen today with no fix for this many minutes of duty hours is silent (alert).",
        rule=_POSITIVE)
    off_grid_minutes: float = _env(
        "GRIDPULSE_OFF_GRID_MINUTES", 15.0,
        "A worker outside the assigned grid for this many minutes is off grid (alert).",
        rule=_POSITIVE)
    duty_hours: str = _env(
        "GRIDPULSE_DUTY_HOURS", "08:30-17:30", "Grid workers' duty hours, local time.",
        rule=HourRange())
    silent_grid_days: int = _env(
        "GRIDPULSE_SILENT_GRID_DAYS", 3, "A grid with no visit and no case for this many days is silent (alert).",
        rule=Int(1))
    track_days: int = _env(
        "GRIDPULSE_TRACK_DAYS", 8, "Days the routes, stays and day summaries of terminals are kept in Redis.",
        rule=Int(1))
    case_keep_days: int = _env(
        "GRIDPULSE_CASE_KEEP_DAYS", 7,
        "Days a closed case stays in the worker and Redis after its newest event, once all its SLA clocks "
        "have stopped; then it is archived (its figures stay in the totals, it takes no more events; "
        "docs/contract.md, Archived cases). 0: never.",
        rule=Int(0))
    kpi_days: int = _env(
        "GRIDPULSE_KPI_DAYS", 35,
        "Days of per-day KPI counters the worker and Redis hold, today included; older days are "
        "dropped (the handling times a department's typical time is learned from, 28 days later; "
        "docs/contract.md, Counter horizon). At least 32: the screens read 31 days back. 0: never drop.",
        rule=Int(MIN_KPI_DAYS, or_zero=True))
    alert_days: int = _env(
        "GRIDPULSE_ALERT_DAYS", 7, "Days of alerts (and their acknowledgements) the alerts board keeps.",
        rule=Int(1))
    dash_host: str = _env(
        "GRIDPULSE_DASH_HOST", "127.0.0.1", "Address the dashboard listens on.",
        rule=Text(r"[A-Za-z0-9._:\[\]-]+", "a host name or IP address"))
    dash_port: int = _env(
        "GRIDPULSE_DASH_PORT", 8050, "Port the dashboard listens on.",
        rule=Port())
    dash_interval_ms: int = _env(
        "GRIDPULSE_DASH_INTERVAL_MS", 1000,
        "How often the wall display refreshes its live data, in milliseconds.",
        rule=Int(100, 60_000))
    dash_max_body_bytes: int = _env(
        "GRIDPULSE_DASH_MAX_BODY_BYTES", 65536,
        "Largest request body the dashboard takes, in bytes; a larger one is refused (413) "
        "before it is read. The largest legitimate bodies measured are 1.4 KB (a Dash callback: "
        "a drill-down page's refresh with every filter set) and 1.7 KB (an alert "
        "acknowledgement with a full 500-character Chinese comment).",
        rule=Int(4096, 64 * 1024**2))
    dash_redis_timeout_s: float = _env(
        "GRIDPULSE_DASH_REDIS_TIMEOUT_S", 2.0,
        "Seconds the dashboard and `gridpulse kpi` wait for Redis to connect or answer before "
        "they call it unreachable (the API then answers 503 with Retry-After; the wall keeps its "
        "last figures, marked stale).",
        rule=Float(0.05, 60))
    behind_records: int = _env(
        "GRIDPULSE_BEHIND_RECORDS", 5000,
        "The screens and the API call the views \"behind\" when the workers report more Kafka "
        "records than this waiting (default: one full batch, GRIDPULSE_BATCH_MAX).",
        rule=Int(0))
    behind_after_s: float = _env(
        "GRIDPULSE_BEHIND_AFTER_S", 10.0,
        "... or when records have waited this many seconds with nothing written.",
        rule=_POSITIVE)
    stale_after_s: float = _env(
        "GRIDPULSE_STALE_AFTER_S", 60.0,
        "The views are \"stale\" when records have waited this many seconds with nothing "
        "written (or no worker is alive, or one waits for Redis or Kafka).",
        rule=_POSITIVE)
    admin_token: str = _env(
        "GRIDPULSE_ADMIN_TOKEN", "",
        "Token of the dashboard's admin requests (`DELETE /api/timing`), sent as "
        "`Authorization: Bearer <token>`. Empty: they are refused (403).",
        rule=Text(r"[\x21-\x7e]{16,256}", "16 to 256 printable ASCII characters without spaces"))
    notify_config: str = _env(
        "GRIDPULSE_NOTIFY_CONFIG", "",
        "The notifier's configuration (YAML or TOML: routes, receivers, inhibition, mute windows; "
        "docs/notify.md). Empty: the bundled notify/default.yaml, which routes and logs every "
        "alert but sends it nowhere. Checked by `gridpulse notify check FILE`.",
        # Only its existence here: every process reads the settings, and the file (with the
        # secrets it names in the notifier's environment) is the notifier's to judge.
        rule=ExistingFile("a notifier configuration file (docs/notify.md)"))
    notify_replica: str = _env(
        "GRIDPULSE_NOTIFY_REPLICA", "",
        "This notifier's name in the leases that keep two replicas from sending one "
        "notification. Empty: host name and process id.",
        rule=Text(r"[A-Za-z0-9._:-]{1,64}", "1-64 letters, digits, '.', '_', ':' or '-'"))
    notify_live_window_s: int = _env(
        "GRIDPULSE_NOTIFY_LIVE_WINDOW_S", 600,
        "While the alerts' event time is within this many seconds of the wall clock, a quiet "
        "city's notifier clock follows the wall clock (so group_wait is waited in real time); "
        "further behind (a replayed day, a backlog), notifications are decided on event time alone.",
        rule=Int(0, 86_400))
    log_dir: str = _env(
        "GRIDPULSE_LOG_DIR", ".gridpulse/logs",
        "Where `gridpulse up` writes the worker's, simulator's and dashboard's logs.",
        rule=Text(r"(?s).+", "a directory path"))
    loglevel: str = _env(
        "GRIDPULSE_LOGLEVEL", "INFO", "Log level of every gridpulse process.",
        rule=LogLevel())
    retry_max_s: float = _env(
        "GRIDPULSE_RETRY_MAX_S", 10.0,
        "Longest wait between two retries while Redis or Kafka is unavailable: every process "
        "waits an outage out, retrying with exponential backoff and jitter from 0.5 s up to this.",
        rule=Float(0.5, 600))
    producer_max_outage_s: float = _env(
        "GRIDPULSE_PRODUCER_MAX_OUTAGE_S", 3600.0,
        "How long a producer (`gridpulse simulate`, `gridpulse replay`) keeps retrying through a "
        "broker outage before it gives up, saying how many events it could not send. 0: never "
        "(`gridpulse up` runs its simulator so).",
        rule=Float(0))
    stop_grace_s: float = _env(
        "GRIDPULSE_STOP_GRACE_S", 4.0,
        "Seconds a worker has to stop cleanly after SIGTERM or Ctrl-C, Redis or Kafka reachable or "
        "not; then it exits anyway. Nothing is lost: its partitions are re-read from the committed "
        "offsets, and Redis skips what it already reflects.",
        rule=Float(0.5, 300))
    stall_s: float = _env(
        "GRIDPULSE_STALL_S", 300.0,
        "A partition with records waiting that the worker has neither taken nor committed for this "
        "many seconds is logged as stalled, an ERROR (Faust's stream_processing_timeout and "
        "broker_commit_livelock_soft_timeout); not while a Redis or Kafka outage explains it.",
        rule=Float(1, 86400))
    sim_seed: int = _env(
        "GRIDPULSE_SIM_SEED", 20261127, "Seed of the simulator (same seed, same events).",
        rule=Int())
    sim_terminals: int = _env(
        "GRIDPULSE_SIM_TERMINALS", 13800, "Mobile terminals the simulator runs.",
        rule=Int(1))
    sim_speed: float = _env(
        "GRIDPULSE_SIM_SPEED", 60.0,
        "Simulated seconds per real second (60: one simulated hour a minute).",
        rule=_POSITIVE)
    sim_cases_per_day: int = _env(
        "GRIDPULSE_SIM_CASES_PER_DAY", 15000, "Cases reported per simulated day, citywide.",
        rule=Int(0))
    sim_fix_interval_s: float = _env(
        "GRIDPULSE_SIM_FIX_INTERVAL_S", 10.0, "Simulated seconds between two GPS fixes of a terminal.",
        rule=_POSITIVE)
    sim_upload_interval_s: float = _env(
        "GRIDPULSE_SIM_UPLOAD_INTERVAL_S", 60.0,
        "Simulated seconds between two uploads of a terminal's fix batch.",
        rule=_POSITIVE)
    sim_max_events_per_s: float = _env(
        "GRIDPULSE_SIM_MAX_EVENTS_PER_S", 1000.0,
        "Rate limit of the simulator's output, Kafka messages per real second (0: none). "
        "1,000 keeps one worker live with the whole fleet (docs/performance.md, GPS and visits).",
        rule=Float(0))
    sim_start: str = _env(
        "GRIDPULSE_SIM_START", "",
        "Simulated start time, ISO 8601 in the city's zone. Empty: now (wall clock).",
        rule=IsoTime())
    sim_late_share: float = _env(
        "GRIDPULSE_SIM_LATE_SHARE", 0.10,
        "Share of cases whose department misses the handling deadline.",
        rule=Float(0, 1))

    def topic(self, name: str) -> str:
        """Full Kafka topic name of logical topic ``name`` (e.g. ``case-events``)."""
        return f"{self.topic_prefix}{name}"

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


FIELDS = dataclasses.fields(Settings)


class SettingsError(ValueError):
    """Settings that are not accepted; ``problems`` holds one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def rule_of(f: dataclasses.Field) -> Rule:
    """What field ``f`` accepts (its declared rule, else the loosest one for its type)."""
    return f.metadata["rule"] or rule_for_type(f.type)


def problem(name: str, raw: str, rule: Rule, exc: ValueError) -> str:
    """The one line saying that ``name=raw`` is not accepted, and what is."""
    detail = str(exc).strip()
    # int()/float()/fromisoformat() explain themselves in Python's words; ours are enough.
    own = detail and not detail.startswith(("invalid literal", "could not convert", "Invalid isoformat"))
    from .redact import mask  # a refused REDIS_URL still has its password
    return mask(f"{name}={raw!r}: expected {rule.accepts}" + (f" ({detail})" if own else ""))


def load(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) and ``overrides``.

    A variable that is unset or empty keeps its default. Every other one must be
    accepted by its field's rule; if any is not, :class:`SettingsError` lists them all.
    ``overrides`` (values from code, not text) are taken as they are.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in FIELDS:
        name = f.metadata["env"]
        raw = env.get(name, "")
        if raw == "":
            continue
        rule = rule_of(f)
        try:
            values[f.name] = rule.parse(raw)
        except ValueError as exc:
            problems.append(problem(name, raw, rule, exc))
    if problems:
        raise SettingsError(problems)
    values.update(overrides)
    return Settings(**values)


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        default = f.default if f.default != "" else "(empty)"
        accepts = rule_of(f).accepts.replace("|", "\\|")
        rows.append(f"| `{f.metadata['env']}` | `{default}` | {accepts} | {f.metadata['doc']} |")
    return "\n".join(rows)
