"""Settings: every variable is checked at load, and a bad one fails in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridpulse import settings as settings_mod
from gridpulse.loop.calendar import DEFAULT_HOLIDAYS
from gridpulse.loop.sla import DEFAULT_POLICY
from gridpulse.settings import FIELDS, SettingsError, load, rule_of
from notify.config import DEFAULT_CONFIG as NOTIFY_DEFAULT

ROOT = Path(__file__).resolve().parents[2]
CITY_DIR = str(ROOT / "gridpulse" / "city" / "data" / "ningbo")
README = str(ROOT / "README.md")

# variable: ([(text, value it loads as), ...], [texts refused, ...]). Every field is here
# (test_every_field_is_in_the_table), so a new field also needs its cases.
CASES: dict[str, tuple[list[tuple[str, object]], list[str]]] = {
    "KAFKA_BOOTSTRAP": ([("127.0.0.1:9092", "127.0.0.1:9092"), ("k1:9092,k2.example.com:19092", None),
                         ("kafka_1:9092", None),
                         ("[::1]:9092", None)],
                        ["localhost", "kafka://k1:9092", "k1:0", "k1:70000", "k1:9092,", "k 1:9092", "-k:9092", "k1:9092, k2:9092"]),
    "REDIS_URL": ([("redis://127.0.0.1:6379/0", None), ("rediss://user:pw@redis.example.com:6380", None),
                   ("redis://localhost", None), ("unix:///run/redis.sock", None)],
                  ["localhost:6379", "http://x:6379", "redis://", "redis://h:99999", "redis://h/db0",
                   "unix://"]),
    "KAFKA_IDEMPOTENT": ([("1", True), ("true", True), ("YES", True), ("On", True), ("0", False),
                          ("false", False), ("No", False), ("OFF", False)],
                         ["2", "y", "enabled", "truee", "-1"]),
    "GRIDPULSE_TOPIC_PREFIX": ([("gp.", "gp."), ("test_1-a.", None)], ["gp/", "g p", "主题."]),
    "GRIDPULSE_PARTITIONS": ([("1", 1), ("12", 12), ("1024", 1024)], ["0", "-1", "1025", "4.0", "four"]),
    "GRIDPULSE_TOPIC_REPLICATION": ([("1", 1), ("3", 3), ("16", 16)], ["0", "17", "3.0", "three"]),
    "GRIDPULSE_TOPIC_MIN_ISR": ([("1", 1), ("2", 2)], ["0", "17", "two"]),
    "GRIDPULSE_REDIS_PREFIX": ([("gp:", "gp:"), ("{gp}:", None)], ["gp :", " "]),
    "GRIDPULSE_CITY": ([("ningbo", "ningbo"), (CITY_DIR, CITY_DIR)], ["paris", "/"]),
    "GRIDPULSE_TZ": ([("Asia/Shanghai", None), ("UTC", None), ("Europe/Berlin", None)],
                     ["Mars/Base", "Asia", "asia/shanghai", "+08:00", "../etc/passwd"]),
    "GRIDPULSE_WORKER_ID": ([("gridpulse-worker", None), ("gp.w_2", None)], ["my worker", "w/1"]),
    "GRIDPULSE_WORKER_WEB_PORT": ([("1", 1), ("65535", 65535)], ["0", "65536", "http", "6066.0"]),
    "GRIDPULSE_WORKER_FEED": ([("batch", "batch"), ("stream", "stream")], ["bogus", "BATCH", "streams"]),
    "GRIDPULSE_BATCH_MAX": ([("1", 1), ("5000", 5000)], ["0", "-5", "1e3"]),
    "GRIDPULSE_BATCH_WITHIN": ([("0", 0.0), ("0.05", 0.05)], ["-0.1", "nan", "inf", "fast"]),
    "GRIDPULSE_ALLOWED_LATENESS_S": ([("0", 0.0), ("60", 60.0)], ["-1", "nan", "1m"]),
    "GRIDPULSE_DASH_MAX_BODY_BYTES": ([("65536", 65536), ("4096", 4096)], ["4095", "1e6", "-1"]),
    "GRIDPULSE_DASH_REDIS_TIMEOUT_S": ([("2", 2.0), ("0.05", 0.05), ("60", 60.0)], ["0", "0.01", "61", "2s"]),
    "GRIDPULSE_BEHIND_RECORDS": ([("0", 0), ("5000", 5000)], ["-1", "1e3", "many"]),
    "GRIDPULSE_BEHIND_AFTER_S": ([("10", 10.0), ("0.5", 0.5)], ["0", "-1", "nan"]),
    "GRIDPULSE_STALE_AFTER_S": ([("60", 60.0)], ["0", "inf", "1m"]),
    "GRIDPULSE_ADMIN_TOKEN": ([("x" * 16, "x" * 16), ("a-B_c.9!" * 4, "a-B_c.9!" * 4)],
                              ["short", "has a space in it ok", "x" * 257]),
    "GRIDPULSE_SNAPSHOT_S": ([("0", 0.0), ("600", 600.0)], ["-1", "86401", "10m"]),
    "GRIDPULSE_SNAPSHOT_DAYS": ([("0", 0), ("2", 2), ("31", 31)], ["-1", "32", "two"]),
    "GRIDPULSE_CLOCK_AHEAD_S": ([("0", 0.0), ("300", 300.0)], ["-5", "inf", "5m"]),
    "GRIDPULSE_CLOCK_TICK_S": ([("0", 0.0), ("1.5", 1.5), ("3600", 3600.0)], ["-1", "3601", "x"]),
    "GRIDPULSE_SLA_FILE": ([(str(DEFAULT_POLICY), None)],
                           ["/no/such/sla.toml", README, str(DEFAULT_HOLIDAYS), CITY_DIR]),
    "GRIDPULSE_HOLIDAYS_FILE": ([(str(DEFAULT_HOLIDAYS), None)],
                                ["/no/such/holidays.toml", README, str(DEFAULT_POLICY)]),
    "GRIDPULSE_ACTIVE_WORKER_MINUTES": ([("1", 1), ("10", 10)], ["0", "2.5"]),
    "GRIDPULSE_GPS_LATENESS_S": ([("0", 0.0), ("300", 300.0)], ["-1", "inf"]),
    "GRIDPULSE_FIX_MAX_ACCURACY_M": ([("0.5", 0.5), ("50", 50.0)], ["0", "-3", "nan"]),
    "GRIDPULSE_MAX_SPEED_MPS": ([("9", 9.0)], ["0", "fast"]),
    "GRIDPULSE_STAY_RADIUS_M": ([("30", 30.0)], ["0", "-30"]),
    "GRIDPULSE_STAY_MIN_MINUTES": ([("3", 3.0)], ["0", ""]),
    "GRIDPULSE_VISIT_MATCH_M": ([("40.5", 40.5)], ["0"]),
    "GRIDPULSE_TRACK_GAP_MINUTES": ([("10", 10.0)], ["0", "-inf"]),
    "GRIDPULSE_SILENT_TERMINAL_MINUTES": ([("15", 15.0)], ["0"]),
    "GRIDPULSE_OFF_GRID_MINUTES": ([("15", 15.0)], ["0"]),
    "GRIDPULSE_DUTY_HOURS": ([("08:30-17:30", "08:30-17:30"), ("00:00-23:59", "00:00-23:59")],
                             ["17:30-08:30", "08:30-08:30", "8:30-17:30", "08:30–17:30", "08:30-24:00",
                              "08:60-17:30", "08:30", "0830-1730"]),
    "GRIDPULSE_SILENT_GRID_DAYS": ([("1", 1), ("3", 3)], ["0"]),
    "GRIDPULSE_TRACK_DAYS": ([("8", 8)], ["0", "eight"]),
    "GRIDPULSE_ALERT_DAYS": ([("7", 7)], ["0", "-7"]),
    "GRIDPULSE_CASE_KEEP_DAYS": ([("7", 7), ("0", 0)], ["-1", "week"]),
    "GRIDPULSE_KPI_DAYS": ([("35", 35), ("32", 32), ("0", 0)], ["31", "1", "-1", "month"]),
    "GRIDPULSE_DASH_HOST": ([("127.0.0.1", None), ("0.0.0.0", None), ("wall.local", None), ("::", None)],
                            ["http://127.0.0.1", "wall host", "127.0.0.1/24"]),
    "GRIDPULSE_DASH_PORT": ([("8050", 8050), ("1", 1), ("65535", 65535)], ["0", "65536", "80x", "-80"]),
    "GRIDPULSE_DASH_INTERVAL_MS": ([("100", 100), ("60000", 60000)], ["99", "60001", "1s"]),
    "GRIDPULSE_NOTIFY_CONFIG": ([(str(NOTIFY_DEFAULT), None)],
                                ["/no/such/notify.yaml", CITY_DIR]),
    "GRIDPULSE_NOTIFY_REPLICA": ([("notify-a", None), ("host:1234", None)], ["two words", "x" * 65, "a/b"]),
    "GRIDPULSE_NOTIFY_LIVE_WINDOW_S": ([("0", 0), ("600", 600)], ["-1", "86401", "10m"]),
    "GRIDPULSE_LOG_DIR": ([("/var/log/gridpulse", None)], []),
    "GRIDPULSE_LOGLEVEL": ([("debug", "DEBUG"), ("INFO", "INFO"), ("Warning", "WARNING"), ("error", "ERROR"),
                            ("CRITICAL", "CRITICAL")], ["verbose", "10", "WARN", "trace"]),
    "GRIDPULSE_RETRY_MAX_S": ([("0.5", 0.5), ("10", 10.0), ("600", 600.0)], ["0", "0.4", "601", "ten"]),
    "GRIDPULSE_PRODUCER_MAX_OUTAGE_S": ([("0", 0.0), ("3600", 3600.0)], ["-1", "inf", "1h"]),
    "GRIDPULSE_STOP_GRACE_S": ([("0.5", 0.5), ("4", 4.0), ("300", 300.0)], ["0", "0.4", "301", "nan"]),
    "GRIDPULSE_STALL_S": ([("1", 1.0), ("300", 300.0)], ["0.5", "86401", "-5", "5m"]),
    "GRIDPULSE_SIM_SEED": ([("0", 0), ("-5", -5), ("20261127", 20261127)], ["seed", "1.5"]),
    "GRIDPULSE_SIM_TERMINALS": ([("1", 1), ("13800", 13800)], ["0", "many"]),
    "GRIDPULSE_SIM_SPEED": ([("60", 60.0), ("0.5", 0.5)], ["0", "-1", "max"]),
    "GRIDPULSE_SIM_CASES_PER_DAY": ([("0", 0), ("15000", 15000)], ["-1", "1.5"]),
    "GRIDPULSE_SIM_FIX_INTERVAL_S": ([("10", 10.0)], ["0"]),
    "GRIDPULSE_SIM_UPLOAD_INTERVAL_S": ([("60", 60.0)], ["0"]),
    "GRIDPULSE_SIM_MAX_EVENTS_PER_S": ([("0", 0.0), ("1000", 1000.0)], ["-1", "nan"]),
    "GRIDPULSE_SIM_START": ([("2026-11-27T08:30", None), ("2026-11-27 08:30:00+08:00", None),
                             ("2026-11-27", None)], ["tomorrow", "27/11/2026 08:30", "2026-13-01T08:30"]),
    "GRIDPULSE_SIM_LATE_SHARE": ([("0", 0.0), ("0.1", 0.1), ("1", 1.0)], ["1.1", "-0.1", "10%"]),
}

FIELD_OF = {f.metadata["env"]: f for f in FIELDS}
GOOD = [(env, text, value) for env, (good, _) in CASES.items() for text, value in good]
BAD = [(env, text) for env, (_, bad) in CASES.items() for text in bad]


def test_every_field_has_a_rule():
    missing = [f.metadata["env"] for f in FIELDS if f.metadata.get("rule") is None]
    assert not missing, f"declare rule=... (gridpulse/settings_rules.py) for {missing}"


def test_every_field_is_in_the_table():
    assert set(CASES) == set(FIELD_OF), "add the new field's accepted and refused values to CASES"


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.metadata["env"])
def test_default_is_accepted_by_its_rule(f):
    if f.default == "":  # empty means "not set": the default is used without parsing
        return
    text = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
    assert rule_of(f).parse(text) == f.default


@pytest.mark.parametrize("env, text, value", GOOD)
def test_accepted(env, text, value):
    s = load({env: text})
    assert getattr(s, FIELD_OF[env].name) == (text.strip() if value is None else value)


@pytest.mark.parametrize("env, text", BAD)
def test_refused_in_one_line(env, text):
    if text == "":
        text = " "  # empty means "use the default"; whitespace alone is a value
    with pytest.raises(SettingsError) as err:
        load({env: text})
    (line,) = err.value.problems
    # A secret is not repeated, even a refused one (gridpulse/redact.py).
    shown = "'***'" if env.endswith("_TOKEN") else repr(text)
    assert line.startswith(f"{env}={shown}: expected {rule_of(FIELD_OF[env]).accepts}")
    assert "\n" not in line and "Traceback" not in line


def test_empty_keeps_the_default():
    assert load({f.metadata["env"]: "" for f in FIELDS}) == settings_mod.Settings()


def test_every_problem_reported_at_once():
    with pytest.raises(SettingsError) as err:
        load({"GRIDPULSE_WORKER_FEED": "bogus", "GRIDPULSE_PARTITIONS": "0", "KAFKA_IDEMPOTENT": "2",
              "GRIDPULSE_DASH_PORT": "80x", "GRIDPULSE_TZ": "Asia/Shangai"})
    assert [p.split("=")[0] for p in err.value.problems] == [
        "KAFKA_IDEMPOTENT", "GRIDPULSE_PARTITIONS", "GRIDPULSE_TZ", "GRIDPULSE_WORKER_FEED",
        "GRIDPULSE_DASH_PORT"]  # in the order of the fields (and of the README table)
    assert str(err.value) == "\n".join(err.value.problems)


def test_file_problem_names_the_bad_key(tmp_path):
    bad = tmp_path / "holidays.toml"
    bad.write_text('[[holidays]]\nname = "x"\nfrist = 2027-01-01\n', encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load({"GRIDPULSE_HOLIDAYS_FILE": str(bad)})
    assert "frist: unknown key" in err.value.problems[0]


def test_overrides_are_taken_as_given():
    assert load({"GRIDPULSE_PARTITIONS": "2"}, partitions=8).partitions == 8


def test_field_without_rule_still_loads_by_its_type():
    from gridpulse.settings_rules import rule_for_type
    assert rule_for_type("bool").parse("on") is True
    assert rule_for_type("int").parse("7") == 7
    with pytest.raises(ValueError):
        rule_for_type("bool").parse("2")


def test_rule_phrases_match_what_they_accept():
    from gridpulse.settings_rules import Float, Int
    assert Float(0, 1, lo_open=True).accepts == "a number > 0 and <= 1"
    with pytest.raises(ValueError):
        Float(0, 1, lo_open=True).parse("0")
    assert Int().accepts == "any integer" and Int(hi=9).accepts == "an integer <= 9"


@pytest.mark.parametrize("env, min_isr", [
    ({}, None),  # one replica: nothing to insist on
    ({"GRIDPULSE_TOPIC_REPLICATION": "3"}, "2"),
    ({"GRIDPULSE_TOPIC_REPLICATION": "3", "GRIDPULSE_TOPIC_MIN_ISR": "5"}, "3"),  # at most the replication
])
def test_topic_configs_follow_the_replication(env, min_isr):
    from gridpulse.topics import configs
    s = settings_mod.load(env)
    for topic, cfg in configs(s).items():
        assert cfg.get("min.insync.replicas") == min_isr, topic
    assert configs(s)[s.topic("silences")]["cleanup.policy"] == "compact"


def test_topic_differences_say_what_and_which_setting():
    from gridpulse.topics import configs, differences, names
    s = settings_mod.load({"GRIDPULSE_TOPIC_REPLICATION": "3"})
    good = {t: {"partitions": s.partitions, "replication": 3, "configs": dict(c)} for t, c in configs(s).items()}
    assert differences(s, good) == []
    alerts, silences, dead = s.topic("alerts"), s.topic("silences"), s.topic("deadletter")
    bad = dict(good)
    bad[alerts] = {"partitions": 1, "replication": 1, "configs": {}}
    bad[silences] = {**good[silences], "configs": {**good[silences]["configs"], "cleanup.policy": "delete"}}
    bad[dead] = None
    got = differences(s, bad)
    assert f"topic {dead}: missing" in got
    assert any(line.startswith(f"topic {alerts}: 1 partitions") and "GRIDPULSE_PARTITIONS" in line for line in got)
    assert any(line.startswith(f"topic {alerts}: 1 replicas") and "GRIDPULSE_TOPIC_REPLICATION" in line for line in got)
    assert f"topic {silences}: cleanup.policy is 'delete', gridpulse expects 'compact'" in got
    assert len(names(s)) == len(good)
