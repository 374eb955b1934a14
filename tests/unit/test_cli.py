"""The command line: help whatever the environment holds, bad settings in one line each."""

from __future__ import annotations

import pytest

from gridpulse import cli

BAD_ENV = {"GRIDPULSE_WORKER_FEED": "bogus", "GRIDPULSE_PARTITIONS": "0", "KAFKA_IDEMPOTENT": "2",
           "GRIDPULSE_DASH_PORT": "80x"}
BAD_LINES = ["KAFKA_IDEMPOTENT='2': expected 1/0, true/false, yes/no, on/off (any case)",
             "GRIDPULSE_PARTITIONS='0': expected an integer from 1 to 1024",
             "GRIDPULSE_WORKER_FEED='bogus': expected one of batch, stream",
             "GRIDPULSE_DASH_PORT='80x': expected a port from 1 to 65535"]
COMMANDS = [["up"], ["worker"], ["simulate"], ["replay", "log.jsonl"], ["dashboard"], ["kpi"],
            ["case", "C1"], ["settings"], ["settings", "--check"]]


@pytest.fixture
def bad_env(monkeypatch):
    for name, value in BAD_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("argv", [["--help"], *([c[0], "--help"] for c in COMMANDS)])
def test_help_works_with_bad_settings(bad_env, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0
    assert "usage: gridpulse" in capsys.readouterr().out


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_bad_settings_exit_2_one_line_each(bad_env, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == BAD_LINES
    assert out.out == ""


def test_markdown_table_needs_no_valid_settings(bad_env, capsys):
    assert cli.main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| variable | default | accepts | meaning |")


@pytest.mark.parametrize("argv, message", [
    (["worker", "--loglevel", "verbose"], "argument --loglevel: expected DEBUG, INFO"),
    (["simulate", "--start", "tomorrow"], "argument --start: expected an ISO 8601 time"),
    (["simulate", "--terminals", "0"], "argument --terminals: expected an integer >= 1"),
    (["simulate", "--speed", "-1"], "argument --speed: expected a number > 0"),
])
def test_flags_refused_like_their_settings(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


class _Worker:
    """Stands in for faust.Worker: records the log level it was given."""

    seen: list = []

    def __init__(self, app, loglevel, quiet):
        self.seen.append(loglevel)

    def execute_from_commandline(self):
        pass


@pytest.mark.parametrize("env, argv, level", [
    ({}, [], "INFO"),
    ({"GRIDPULSE_LOGLEVEL": "debug"}, [], "DEBUG"),
    ({"GRIDPULSE_LOGLEVEL": "debug"}, ["--loglevel", "warning"], "WARNING"),
])
def test_worker_loglevel_defaults_to_the_setting(monkeypatch, env, argv, level):
    import faust

    import streams.app
    monkeypatch.delenv("GRIDPULSE_LOGLEVEL", raising=False)
    for name, value in {"KAFKA_BOOTSTRAP": "127.0.0.1:9", "REDIS_URL": "redis://127.0.0.1:9", **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(streams.app, "build_app", lambda s, bootstrap, redis_url: object())
    monkeypatch.setattr(faust, "Worker", _Worker)
    _Worker.seen = []
    assert cli.main(["worker", *argv]) == 0
    assert _Worker.seen == [level]


def test_settings_check_flags_the_missing_year(monkeypatch, tmp_path, capsys):
    path = tmp_path / "holidays.toml"
    path.write_text("[[holidays]]\nfirst = 2020-01-01\n", encoding="utf-8")  # long past
    monkeypatch.setenv("GRIDPULSE_HOLIDAYS_FILE", str(path))
    assert cli.main(["settings", "--check"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(f"warning: working calendar {path}: no holiday schedule for")
    assert cli.main(["settings"]) == 0  # listing the settings is not a failure
    assert "no holiday schedule" in capsys.readouterr().err


def test_settings_check_passes_with_both_years(monkeypatch, tmp_path, capsys):
    from datetime import date
    year = date.today().year  # near New Year the city's year may be the next: cover three
    path = tmp_path / "holidays.toml"
    path.write_text("".join(f"[[holidays]]\nfirst = {y}-01-01\n" for y in (year - 1, year, year + 1, year + 2)),
                    encoding="utf-8")
    monkeypatch.setenv("GRIDPULSE_HOLIDAYS_FILE", str(path))
    assert cli.main(["settings", "--check"]) == 0
    assert capsys.readouterr().out == "settings and working calendar: ok\n"
