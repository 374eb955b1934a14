"""The ``gridpulse`` command: up, worker, notify, silence, simulate, replay, dashboard, kpi, case, deadletter, settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from . import redact
from . import settings as settings_mod

_LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def _settings() -> settings_mod.Settings:
    """The settings from the environment (and logging set to their level), or exit 2
    with one line per refused variable."""
    try:
        s = settings_mod.load()
    except settings_mod.SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=s.loglevel, format=_LOG_FORMAT)
    from . import logtriage, outage
    logtriage.install()  # a Kafka client's retries are not ERRORs of ours (logtriage.py)
    outage.configure(s.retry_max_s)
    return s


def _like(field_name: str):
    """An argparse type accepting what setting ``field_name`` accepts (same rule, same words)."""
    (f,) = (f for f in settings_mod.FIELDS if f.name == field_name)
    rule = settings_mod.rule_of(f)

    def parse(text: str):
        try:
            return rule.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule.accepts}") from None

    return parse


def _need(value: str, name: str) -> str:
    if not value:
        sys.exit(f"gridpulse: {name} is not set (or run `gridpulse up`, which starts one)")
    return value


def cmd_up(args: argparse.Namespace) -> int:
    """Run the whole system on this machine."""
    from .runtime.up import run_up
    return run_up(_settings(), open_browser=False, duration_s=args.duration)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run one Faust worker."""
    s = _settings()
    import faust

    from streams.app import build_app
    from streams.supervision import prepare
    bootstrap, redis_url = _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP"), _need(s.redis_url, "REDIS_URL")
    app = build_app(s, bootstrap, redis_url)
    worker = faust.Worker(app, loglevel=args.loglevel or s.loglevel, quiet=True)
    prepare(worker, app, s, bootstrap, redis_url)  # stops in seconds, reports outages once
    worker.execute_from_commandline()
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    """Run the notifier, check a configuration file, or show the notification log."""
    if args.cmd_nt == "check":
        from notify.commands import check
        return check(args.file)
    s = _settings()
    if args.cmd_nt == "log":
        from notify.commands import cmd_log
        _need(s.redis_url, "REDIS_URL")
        return cmd_log(s, args)
    from notify.process import run
    _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP")
    _need(s.redis_url, "REDIS_URL")
    return run(s)


def cmd_silence(args: argparse.Namespace) -> int:
    """Add, list or expire silences (written to and read from the silences topic)."""
    from notify.commands import cmd_silence as run_silence
    s = _settings()
    _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP")
    return run_silence(s, args)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the terminal simulator."""
    s = _settings()
    from producers.run import simulate
    from .clock import parse_local
    if args.terminals is not None:
        s = s.replace(sim_terminals=args.terminals)
    if args.speed is not None:
        s = s.replace(sim_speed=args.speed)
    if args.start:
        s = s.replace(sim_start=args.start)
    until = parse_local(args.until, s.timezone) if args.until else None
    bootstrap = None if args.no_kafka else _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP")
    result = asyncio.run(simulate(s, bootstrap, duration_s=args.duration, sim_until=until,
                                  out=Path(args.out) if args.out else None,
                                  as_fast_as_possible=args.max,
                                  checkpoint=Path(args.checkpoint) if args.checkpoint else None))
    print(json.dumps(result))
    if "gave_up" in result:
        print(f"gridpulse simulate: {result['gave_up']}", file=sys.stderr)
        return 1
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Publish a recorded event log (``simulate --out``) to Kafka again."""
    from producers.replay import replay
    s = _settings()
    path = Path(args.file)
    if not path.is_file():
        sys.exit(f"gridpulse replay: no such file: {path}")
    speed = None if args.max else (args.speed if args.speed is not None else s.sim_speed)
    if speed is not None and speed <= 0:
        sys.exit("gridpulse replay: --speed must be positive")
    result = asyncio.run(replay(s, _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP"), path, speed=speed))
    print(json.dumps(result, ensure_ascii=False))
    if "gave_up" in result:
        print(f"gridpulse replay: {result['gave_up']}", file=sys.stderr)
        return 1
    if not result["messages"]:
        print("gridpulse replay: nothing was sent", file=sys.stderr)
        return 1
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the wall display."""
    from dashboard.app import serve
    s = _settings()
    serve(s, _need(s.redis_url, "REDIS_URL"))
    return 0


def cmd_kpi(args: argparse.Namespace) -> int:
    """Print an area's live KPIs as JSON (the same figures as the HTTP API)."""
    from .city import load_city
    from .clock import local_day
    from .views import LiveView
    s = _settings()
    city = load_city(s.city)
    code = args.code or (city.code if args.level == "city" else None)
    if code is None:
        sys.exit(f"gridpulse kpi: --code is required for --level {args.level}")
    try:
        area = city.area(code)
    except KeyError:
        sys.exit(f"gridpulse kpi: unknown area code {code!r} (--code)")
    if area.level != args.level:
        sys.exit(f"gridpulse kpi: {code} is a {area.level}, not a {args.level} (--level)")
    from .freshness import CASE, GPS, Limits
    from .views import UNREACHABLE, unknown_kpis
    from .visit_views import VisitView, area_households, unknown_visit_kpis
    view = LiveView.from_url(_need(s.redis_url, "REDIS_URL"), s.redis_prefix, s.timezone, city.code,
                             timeout_s=s.dash_redis_timeout_s)
    hh = area_households(city)
    try:
        fresh = view.freshness(Limits.of(s))
        if fresh.has(CASE):
            k = view.kpis(code)
            out = {"level": args.level, "name": area.name, **k.as_dict()}
            if k.watermark:
                day = local_day(k.watermark, s.timezone)
                out["stage_times"] = view.stage_times(code, day) if args.level in ("city", "district") else None
                out["score"] = view.score("town", code, day)
        else:  # nothing whole to read: no figure rather than zeros
            out = {"level": args.level, "name": area.name, **unknown_kpis(code), "stage_times": None,
                   "score": None}
        out["visits"] = (VisitView(view, lambda c: hh.get(c, 0)).kpis(code) if fresh.has(GPS)
                         else unknown_visit_kpis(code, hh.get(code, 0)))
    except UNREACHABLE as err:
        # The URL is not printed: it may hold a password.
        print(f"gridpulse kpi: Redis does not answer ({type(err).__name__}); no figures", file=sys.stderr)
        return 3
    out["freshness"] = fresh.as_dict()
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_case(args: argparse.Namespace) -> int:
    """Print one case's full history and SLA clocks as JSON."""
    from .loop.facts import Rules
    from .views import LiveView
    s = _settings()
    view = LiveView.from_url(_need(s.redis_url, "REDIS_URL"), s.redis_prefix, s.timezone)
    doc = view.case(args.case, Rules.load(s.sla_file, s.holidays_file, s.timezone))
    if doc is None:
        sys.exit(f"gridpulse case: unknown case {args.case!r} (or archived: closed, newest event more than GRIDPULSE_CASE_KEEP_DAYS ago)")
    print(json.dumps(doc, ensure_ascii=False, indent=1 if args.pretty else None))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return value


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild every view from Kafka into fresh keys, then switch them in at once."""
    from streams.rebuild import rebuild
    s = _settings()
    result = asyncio.run(rebuild(s, _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP"),
                                 _need(s.redis_url, "REDIS_URL"), use_snapshots=not args.from_scratch))
    print(json.dumps(result))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create gridpulse's topics as the settings say (or only check them); 1 if any differs."""
    from .runtime.broker import create_topics_async, describe_topics_async
    from .topics import configs, differences, names
    s = _settings()
    bootstrap, wanted = _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP"), list(names(s).values())

    async def run() -> list[str]:
        if not args.check:
            await create_topics_async(bootstrap, wanted, s.partitions, s.topic_replication, configs=configs(s))
        return differences(s, await describe_topics_async(bootstrap, wanted))

    diffs = asyncio.run(run())
    for line in diffs:
        print(line)
    if not diffs:
        print(f"{len(wanted)} topics as expected: {s.partitions} partitions, {s.topic_replication} replica(s)")
    return 1 if diffs else 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    """List or show the dead letters (records the worker could not use, and why)."""
    from . import deadletter_read as dl
    from .clock import now_ms
    s = _settings()
    bootstrap, topic = _need(s.kafka_bootstrap, "KAFKA_BOOTSTRAP"), s.topic("deadletter")
    if args.cmd_dl == "show":
        try:
            part, off = dl.parse_ref(args.letter)
        except ValueError as exc:
            sys.exit(f"gridpulse deadletter show: {exc}")
        found = asyncio.run(dl.read_one(bootstrap, topic, part, off))
        if found is None:
            sys.exit(f"gridpulse deadletter show: no letter {args.letter} in {topic}")
        print(dl.dumps(dl.document(found)))
        return 0
    since = None if args.all else now_ms() - int(args.hours * 3_600_000)
    entries = asyncio.run(dl.read(bootstrap, topic, since))
    if args.topic:
        entries = [e for e in entries if e.letter and e.letter.topic in (args.topic, s.topic(args.topic))]
    entries = entries[-args.limit:]
    if args.json:
        for e in entries:
            print(json.dumps(dl.document(e), ensure_ascii=False))
    else:
        print(dl.table(entries, s.timezone))
        print(f"({len(entries)} letters{'' if args.all else f' of the last {args.hours:g} h'}; "
              "`gridpulse deadletter show <letter>` for one)")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print the settings (or the README table) and what the working calendar lacks."""
    from .clock import now_ms
    from .loop.calendar import load_calendar
    from .loop.calendar_years import year_gap
    if args.markdown:
        print(settings_mod.markdown_table())
        return 0
    s = _settings()
    if not args.check:
        for f in settings_mod.FIELDS:
            v = getattr(s, f.name)
            # A token printed to a terminal or a log is a token given away.
            if f.metadata["env"].endswith("_TOKEN") and v:
                v = "(set)"
            print(f"{f.name} = {redact.mask(repr(v))}")  # a URL's password included
    gap = year_gap(load_calendar(s.holidays_file or None), now_ms(), s.timezone)
    if gap is not None:
        print(f"warning: {gap.message()}", file=sys.stderr)
        return 1 if args.check else 0
    if args.check:
        print("settings and working calendar: ok")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gridpulse`` command."""
    p = argparse.ArgumentParser(prog="gridpulse", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="run broker (embedded if needed), Redis, worker, simulator and dashboard")
    up.add_argument("--duration", type=float, help="stop after this many seconds")
    up.set_defaults(func=cmd_up)
    w = sub.add_parser("worker", help="run a stream-processing worker")
    w.add_argument("--loglevel", type=_like("loglevel"), help="default: GRIDPULSE_LOGLEVEL")
    w.set_defaults(func=cmd_worker)
    nt = sub.add_parser("notify", help="run the notifier (alerts to webhooks, DingTalk, WeCom, Alertmanager)")
    nts = nt.add_subparsers(dest="cmd_nt")
    nc = nts.add_parser("check", help="validate a notifier configuration file without running")
    nc.add_argument("file")
    nl = nts.add_parser("log", help="the notification log, newest first")
    nl.add_argument("--alert", help="only notifications that carried this alert id")
    nl.add_argument("--receiver")
    nl.add_argument("--status", choices=["pending", "sent", "failed"])
    nl.add_argument("--limit", type=int, default=50)
    nl.add_argument("--json", action="store_true", help="one JSON document a line")
    nt.set_defaults(func=cmd_notify, cmd_nt=None)
    sl = sub.add_parser("silence", help="add, list or expire silences")
    sls = sl.add_subparsers(dest="cmd_sil", required=True)
    sa = sls.add_parser("add", help="silence the alerts all the matchers match")
    sa.add_argument("matcher", nargs="+", help='label matchers: district="330203" kind=~"overdue|escalation"')
    sa.add_argument("--creator", required=True, help="who (a name and post)")
    sa.add_argument("--comment", default="")
    sa.add_argument("--start", help="ISO time, city time if no offset (default: now)")
    span = sa.add_mutually_exclusive_group()
    span.add_argument("--duration", default="2h", help="e.g. 2h, 1d (default 2h)")
    span.add_argument("--end", help="ISO time, city time if no offset")
    sll = sls.add_parser("ls", help="the silences (active and pending; --all: expired too)")
    sll.add_argument("--all", action="store_true")
    sll.add_argument("--json", action="store_true")
    se = sls.add_parser("expire", help="end a silence now")
    se.add_argument("id")
    sl.set_defaults(func=cmd_silence)
    sm = sub.add_parser("simulate", help="run the terminal simulator")
    sm.add_argument("--terminals", type=_like("sim_terminals"))
    sm.add_argument("--speed", type=_like("sim_speed"), help="simulated seconds per real second")
    sm.add_argument("--start", type=_like("sim_start"),
                    help="simulated start, ISO 8601 (city time if no offset)")
    sm.add_argument("--until", type=_like("sim_start"), help="stop at this simulated time, ISO 8601")
    sm.add_argument("--duration", type=float, help="stop after this many real seconds")
    sm.add_argument("--out", help="also write the messages to this JSONL event log")
    sm.add_argument("--no-kafka", action="store_true", help="do not publish (with --out)")
    sm.add_argument("--max", action="store_true", help="ignore the clock: as fast as possible")
    sm.add_argument("--checkpoint", help="resume the run this file records (if any) and keep it "
                                         "up to date (`gridpulse up` restarts its simulator so)")
    sm.set_defaults(func=cmd_simulate)
    rp = sub.add_parser("replay", help="publish a recorded event log (simulate --out) to Kafka again")
    rp.add_argument("file", help="JSONL event log, one {topic, key, value} a line")
    pace = rp.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float,
                      help="event seconds per real second (default: GRIDPULSE_SIM_SPEED)")
    pace.add_argument("--max", action="store_true", help="ignore event time: as fast as possible")
    rp.set_defaults(func=cmd_replay)
    d = sub.add_parser("dashboard", help="serve the wall display")
    d.set_defaults(func=cmd_dashboard)
    k = sub.add_parser("kpi", help="print an area's live KPIs as JSON")
    k.add_argument("--level", default="city", choices=["city", "district", "town", "community", "grid"])
    k.add_argument("--code", help="area code (default: the city)")
    k.set_defaults(func=cmd_kpi)
    cs = sub.add_parser("case", help="print one case's history (全程留痕) and SLA clocks as JSON")
    cs.add_argument("case", help="case id")
    cs.add_argument("--pretty", action="store_true")
    cs.set_defaults(func=cmd_case)
    rb = sub.add_parser("rebuild", help="recompute every view from Kafka into fresh keys, then switch them in")
    rb.add_argument("--from-scratch", action="store_true",
                    help="ignore the snapshots: replay every log from its first retained record")
    rb.set_defaults(func=cmd_rebuild)
    tp = sub.add_parser("topics", help="create gridpulse's topics as the settings say, or check them; "
                                       "prints what differs (exit 1)")
    tp.add_argument("--check", action="store_true", help="only check, create nothing")
    tp.set_defaults(func=cmd_topics)
    dlp = sub.add_parser("deadletter", help="list or show dead letters (records the worker refused, and why)")
    dls = dlp.add_subparsers(dest="cmd_dl", required=True)
    ls = dls.add_parser("ls", help="list dead letters, oldest first")
    ls.add_argument("--hours", type=_positive_float, default=24.0,
                    help="written in the last N hours (default 24)")
    ls.add_argument("--all", action="store_true", help="every letter the topic still holds")
    ls.add_argument("--topic", help="only letters of records from this topic (e.g. case-events)")
    ls.add_argument("--limit", type=_positive_int, default=200, help="at most the newest N (default 200)")
    ls.add_argument("--json", action="store_true", help="one JSON document a line")
    show = dls.add_parser("show", help="one dead letter in full, the refused value included")
    show.add_argument("letter", help="<partition>:<offset> of the letter, as `ls` prints it")
    dlp.set_defaults(func=cmd_deadletter)
    st = sub.add_parser("settings", help="print the settings")
    st.add_argument("--markdown", action="store_true", help="the README's table")
    st.add_argument("--check", action="store_true",
                    help="only check: exit 2 if a setting is refused, 1 if the working calendar "
                         "lacks this year or the next")
    st.set_defaults(func=cmd_settings)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gridpulse`` console script.

    The settings are read by each command, not here: ``--help`` and ``settings
    --markdown`` work whatever the environment holds.
    """
    redact.install()  # before anything can log or fail: no secret in any line or traceback
    args = parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
