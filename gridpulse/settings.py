"""The one settings object: every knob is an environment variable with a sane default.

The README's configuration table is generated from ``FIELDS`` (``gridpulse settings
--markdown``), so the code and the docs cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


def _env(name: str, default: Any, doc: str) -> Any:
    """Declare a setting backed by environment variable ``name``."""
    return field(default=default, metadata={"env": name, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read from the environment by :func:`load`."""

    kafka_bootstrap: str = _env(
        "KAFKA_BOOTSTRAP", "",
        "Kafka bootstrap servers (host:port,...). Empty: `gridpulse up` starts an embedded broker.")
    redis_url: str = _env(
        "REDIS_URL", "",
        "Redis URL. Empty: `gridpulse up` uses redis://127.0.0.1:6379/0 if reachable, else starts an embedded redis-server.")
    kafka_idempotent: bool = _env(
        "KAFKA_IDEMPOTENT", False,
        "Turn on the idempotent producer (do on a real cluster; the embedded Tansu broker refuses InitProducerId).")
    topic_prefix: str = _env(
        "GRIDPULSE_TOPIC_PREFIX", "gp.",
        "Prefix of every Kafka topic name (lets several deployments or test runs share a broker).")
    partitions: int = _env(
        "GRIDPULSE_PARTITIONS", 4,
        "Partitions of each topic gridpulse creates; the unit of parallelism across workers.")
    redis_prefix: str = _env(
        "GRIDPULSE_REDIS_PREFIX", "gp:",
        "Prefix of every Redis key gridpulse writes.")
    city: str = _env(
        "GRIDPULSE_CITY", "ningbo",
        "City model to load: a bundled name, or a directory holding city.json.gz.")
    timezone: str = _env(
        "GRIDPULSE_TZ", "Asia/Shanghai",
        "Time zone of the city's working day (\"today\" and per-minute buckets).")
    worker_id: str = _env(
        "GRIDPULSE_WORKER_ID", "gridpulse-worker",
        "Faust app id: the consumer group all workers of one deployment share.")
    worker_web_port: int = _env(
        "GRIDPULSE_WORKER_WEB_PORT", 6066,
        "Port of the Faust worker's own web server (status pages).")
    worker_feed: str = _env(
        "GRIDPULSE_WORKER_FEED", "batch",
        "How the Faust worker hands records to the processors: `batch` (Faust's consumer "
        "delivers into a batch queue; fast) or `stream` (agents with `take_events`; "
        "idiomatic, ~10x more CPU per message, see docs/performance.md).")
    batch_max: int = _env(
        "GRIDPULSE_BATCH_MAX", 5000,
        "Most events a worker takes from a stream in one batch.")
    batch_within: float = _env(
        "GRIDPULSE_BATCH_WITHIN", 0.05,
        "Seconds a worker waits to fill a batch before processing what it has.")
    allowed_lateness_s: float = _env(
        "GRIDPULSE_ALLOWED_LATENESS_S", 60.0,
        "Event-time seconds an out-of-order case event may arrive late and still be applied as "
        "if in order; alerts and rule-breaking verdicts wait this long before they are final.")
    sla_file: str = _env(
        "GRIDPULSE_SLA_FILE", "",
        "TOML SLA policy (deadlines per clock, category, severity). Empty: the bundled "
        "gridpulse/loop/sla_default.toml.")
    holidays_file: str = _env(
        "GRIDPULSE_HOLIDAYS_FILE", "",
        "TOML working calendar (hours, holidays, make-up working days). Empty: the bundled "
        "gridpulse/loop/holidays.toml.")
    active_worker_minutes: int = _env(
        "GRIDPULSE_ACTIVE_WORKER_MINUTES", 10,
        "A grid worker counts as active (shown on the map) if a fix arrived within this many minutes.")
    gps_lateness_s: float = _env(
        "GRIDPULSE_GPS_LATENESS_S", 300.0,
        "Event-time seconds a GPS fix may arrive behind the newest fix of its partition and "
        "still be used; older fixes are dropped as too late. Visits wait this long to be final.")
    fix_max_accuracy_m: float = _env(
        "GRIDPULSE_FIX_MAX_ACCURACY_M", 50.0, "GPS fixes less accurate than this (metres) are dropped.")
    max_speed_mps: float = _env(
        "GRIDPULSE_MAX_SPEED_MPS", 9.0,
        "A fix that would need a faster move from the previous one (m/s) is dropped as a jump.")
    stay_radius_m: float = _env(
        "GRIDPULSE_STAY_RADIUS_M", 30.0, "A stay is a run of fixes within this many metres of its first.")
    stay_min_minutes: float = _env(
        "GRIDPULSE_STAY_MIN_MINUTES", 3.0, "... lasting at least this many minutes; a stay near a household is a visit.")
    visit_match_m: float = _env(
        "GRIDPULSE_VISIT_MATCH_M", 40.0, "A stay matches the nearest household of the grid within this many metres.")
    track_gap_minutes: float = _env(
        "GRIDPULSE_TRACK_GAP_MINUTES", 10.0, "No fix for this long ends a track segment (and any stay in it).")
    silent_terminal_minutes: float = _env(
        "GRIDPULSE_SILENT_TERMINAL_MINUTES", 15.0,
        "A terminal seen today with no fix for this many minutes of duty hours is silent (alert).")
    off_grid_minutes: float = _env(
        "GRIDPULSE_OFF_GRID_MINUTES", 15.0,
        "A worker outside the assigned grid for this many minutes is off grid (alert).")
    duty_hours: str = _env("GRIDPULSE_DUTY_HOURS", "08:30-17:30", "Grid workers' duty hours, local time.")
    silent_grid_days: int = _env(
        "GRIDPULSE_SILENT_GRID_DAYS", 3, "A grid with no visit and no case for this many days is silent (alert).")
    track_days: int = _env(
        "GRIDPULSE_TRACK_DAYS", 8, "Days the routes, stays and day summaries of terminals are kept in Redis.")
    alert_days: int = _env(
        "GRIDPULSE_ALERT_DAYS", 7, "Days of alerts (and their acknowledgements) the alerts board keeps.")
    dash_host: str = _env("GRIDPULSE_DASH_HOST", "127.0.0.1", "Address the dashboard listens on.")
    dash_port: int = _env("GRIDPULSE_DASH_PORT", 8050, "Port the dashboard listens on.")
    dash_interval_ms: int = _env(
        "GRIDPULSE_DASH_INTERVAL_MS", 1000,
        "How often the wall display refreshes its live data, in milliseconds.")
    dash_max_body_bytes: int = _env(
        "GRIDPULSE_DASH_MAX_BODY_BYTES", 65536,
        "Largest request body the dashboard takes, in bytes; a larger one is refused (413) "
        "before it is read. The largest legitimate bodies measured are 1.4 KB (a Dash callback: "
        "a drill-down page's refresh with every filter set) and 1.7 KB (an alert "
        "acknowledgement with a full 500-character Chinese comment).")
    admin_token: str = _env(
        "GRIDPULSE_ADMIN_TOKEN", "",
        "Token of the dashboard's admin requests (`DELETE /api/timing`), sent as "
        "`Authorization: Bearer <token>`. Empty: they are refused (403).")
    log_dir: str = _env(
        "GRIDPULSE_LOG_DIR", ".gridpulse/logs",
        "Where `gridpulse up` writes the worker's, simulator's and dashboard's logs.")
    loglevel: str = _env("GRIDPULSE_LOGLEVEL", "INFO", "Log level of every gridpulse process.")
    sim_seed: int = _env("GRIDPULSE_SIM_SEED", 20261127, "Seed of the simulator (same seed, same events).")
    sim_terminals: int = _env("GRIDPULSE_SIM_TERMINALS", 13800, "Mobile terminals the simulator runs.")
    sim_speed: float = _env(
        "GRIDPULSE_SIM_SPEED", 60.0,
        "Simulated seconds per real second (60: one simulated hour a minute).")
    sim_cases_per_day: int = _env(
        "GRIDPULSE_SIM_CASES_PER_DAY", 15000, "Cases reported per simulated day, citywide.")
    sim_fix_interval_s: float = _env(
        "GRIDPULSE_SIM_FIX_INTERVAL_S", 10.0, "Simulated seconds between two GPS fixes of a terminal.")
    sim_upload_interval_s: float = _env(
        "GRIDPULSE_SIM_UPLOAD_INTERVAL_S", 60.0,
        "Simulated seconds between two uploads of a terminal's fix batch.")
    sim_max_events_per_s: float = _env(
        "GRIDPULSE_SIM_MAX_EVENTS_PER_S", 1000.0,
        "Rate limit of the simulator's output, Kafka messages per real second (0: none). "
        "1,000 keeps one worker live with the whole fleet (docs/performance.md, GPS and visits).")
    sim_start: str = _env(
        "GRIDPULSE_SIM_START", "",
        "Simulated start time, ISO 8601 in the city's zone. Empty: now (wall clock).")
    sim_late_share: float = _env(
        "GRIDPULSE_SIM_LATE_SHARE", 0.10,
        "Share of cases whose department misses the handling deadline.")

    def topic(self, name: str) -> str:
        """Full Kafka topic name of logical topic ``name`` (e.g. ``case-events``)."""
        return f"{self.topic_prefix}{name}"

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


FIELDS = dataclasses.fields(Settings)


def _parse(raw: str, kind: Any) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def load(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) and ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in FIELDS:
        name = f.metadata["env"]
        if name in env and env[name] != "":
            try:
                values[f.name] = _parse(env[name], f.type)
            except ValueError as exc:
                raise ValueError(f"{name}={env[name]!r}: {exc}") from None
    values.update(overrides)
    return Settings(**values)


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in FIELDS:
        default = f.default if f.default != "" else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)
