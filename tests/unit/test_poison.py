"""Bad bytes become reasons, dead letters always fit a Kafka request, ticks find the laggards."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings, strategies as st

from gridpulse.schemas import (DEAD_KEY_MAX, DEAD_RAW_MAX, dead_key, dead_letter, decode_ack, decode_alert,
                               decode_case, decode_gps, decode_tick, encode)
from streams.clock import behind, city_clock
from streams.poison import Poison, case_item, check_clock, decode, gps_item
from streams.processor import Record

GOOD = (b'{"v":1,"id":"e1","case":"c1","type":"reported","ts":1795741200000,'
        b'"grid":"330203001001001","category":"sanitation","severity":3}')
DECODERS = [decode_case, decode_gps, decode_alert, decode_ack, decode_tick]


@pytest.mark.parametrize("value,reason", [
    (None, "null value"),
    (b"", "empty value"),
    (b"not json", "not JSON"),
    (b'{"v":1,"id":"e\xff1"}', "not UTF-8: byte 0xff at offset 14"),
    (b'{"\xc3\x28":1}', "not UTF-8"),  # in a key msgspec would skip unread
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b"[" * 50_000 + b"]" * 50_000, "Expected `object`"),
    (b'{"v":1,"id":"a\x00b"}', "not JSON"),
    (GOOD.replace(b'"sanitation"', b'"aliens"'), "`$.category`"),
    (GOOD.replace(b'"severity":3', b'"severity":9'), "`$.severity`"),
    (GOOD.replace(b'"severity":3', b'"severity":3,"dept":"nasa"'), "`$.dept`"),
    (GOOD.replace(b'"v":1', b'"v":2'), "`$.v`"),
])
def test_bad_case_values_become_reasons(value, reason):
    with pytest.raises(Poison) as err:
        decode(decode_case, value)
    assert reason in str(err.value)


def test_a_good_value_decodes():
    assert decode(decode_case, GOOD).category == "sanitation"
    assert decode(decode_case, GOOD.replace(b'"v":1', '"v":1,"note":"路灯不亮"'.encode())).note == "路灯不亮"


GRIDS = {"330203001001001"}
_value = st.one_of(
    st.none(), st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                 lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=30)
    .map(lambda x: json.dumps(x).encode()),
    # near misses of real values: a field changed to anything
    st.tuples(st.sampled_from(["id", "case", "type", "ts", "grid", "category", "severity", "dept",
                               "v", "note", "fixes", "terminal", "worker"]),
              st.one_of(st.none(), st.integers(), st.text(max_size=40), st.floats(), st.lists(st.integers())))
    .map(lambda kv: GOOD.replace(b"}", b',"' + kv[0].encode() + b'":' + json.dumps(kv[1]).encode() + b"}")),
)


@settings(max_examples=400, deadline=None)
@given(_value, st.one_of(st.none(), st.binary(max_size=20), st.just(b"c1"), st.just(b"tick")),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15)))
def test_records_are_items_or_poison_never_anything_else(value, key, timestamp):
    """What the processors call on every record: any value, key and timestamp gives an
    item that passed every check, or Poison with a reason; no other exception."""
    r = Record(0, 0, key, value, timestamp)
    for item_of in (case_item, gps_item):
        try:
            item = item_of(r, GRIDS.__contains__, 300_000)
        except Poison as exc:
            assert str(exc)
        else:
            assert getattr(item, "grid", "330203001001001") in GRIDS


def test_a_tick_is_known_however_it_is_spelled_and_keyed_as_the_contract_says():
    tick = b'{"v":1,"type":"\\u0074ick","ts":1795741200000,"by":"worker-2"}'
    assert case_item(Record(0, 0, b"tick", tick, 1795741200.0), GRIDS.__contains__, 300_000).ts == 1795741200000
    with pytest.raises(Poison, match="key"):
        case_item(Record(0, 0, b"c1", tick, 1795741200.0), GRIDS.__contains__, 300_000)
    with pytest.raises(Poison, match="clock ahead"):
        case_item(Record(0, 0, b"tick", tick, 1795740000.0), GRIDS.__contains__, 300_000)


@pytest.mark.parametrize("ts,record_ts,ahead,bad", [
    (1_000_000, 1_000_000, 300_000, False),
    (1_300_000, 1_000_000, 300_000, False),  # exactly at the limit is still fine
    (1_300_001, 1_000_000, 300_000, True),
    (1_300_001, None, 300_000, False),  # a record without a timestamp is not judged
    (1_300_001, -1, 300_000, False),
    (9_999_999, 1_000_000, 0, False),  # check off
    (0, 1_000_000, 300_000, False),  # behind is not ahead
])
def test_clock_ahead(ts, record_ts, ahead, bad):
    if bad:
        with pytest.raises(Poison, match="clock ahead"):
            check_clock(ts, record_ts, ahead)
    else:
        check_clock(ts, record_ts, ahead)


@pytest.mark.parametrize("size", [0, 10, DEAD_RAW_MAX, DEAD_RAW_MAX + 1, 5_000_000])
def test_a_dead_letter_always_fits_and_identifies_the_whole(size):
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    d = dead_letter("gp.case-events", 3, 17, "why " * 1000, raw, 1)
    assert (d.size, d.truncated, d.raw) == (size, size > DEAD_RAW_MAX, raw[:DEAD_RAW_MAX])
    assert d.sha256 == hashlib.sha256(raw).hexdigest()
    key = dead_key(b"k" * 900_000)
    assert len(key) <= DEAD_KEY_MAX and key.startswith(b"sha256:")
    assert len(encode(d)) + len(key) < 1024**2 - 4096  # the worker's producer limit, headers spared


def test_short_keys_are_kept():
    assert dead_key(b"C1") == b"C1" and dead_key(None) is None


@pytest.mark.parametrize("wms,owned,want", [
    ({}, {0, 1}, (0, [])),
    ({0: (5, 5), 1: (9, 9), 2: (9, 9)}, {0, 1, 2}, (9, [0])),
    ({0: (5, 5), 1: (9, 9)}, {1}, (9, [])),  # only the partitions this worker owns
    ({0: (5, 5), 1: (9, 9)}, {0, 3}, (9, [0])),  # a partition with no state yet is not ticked
    ({0: (7, 7), 1: (7, 7)}, {0, 1}, (7, [])),
    # One fast clock (event at 12, received at 8) moves its own partition only: the city
    # clock stays at what the broker received.
    ({0: (5, 5), 1: (12, 8), 2: (7, 7)}, {0, 1, 2}, (8, [0, 2])),
    ({0: (5, 0), 1: (9, 0)}, {0, 1}, (9, [0])),  # no record timestamps: no cap
])
def test_ticks_go_to_owned_partitions_behind_the_city_clock(wms, owned, want):
    assert behind(wms, owned) == want


def test_the_city_clock_never_passes_what_the_broker_received():
    assert city_clock({0: (100, 40), 1: (50, 60)}) == 60
    assert city_clock({0: (100, 400)}) == 100


def _wrapped(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("send failed") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("exc,outage", [
    (__import__("redis").exceptions.ConnectionError("refused"), True),
    (__import__("redis").exceptions.TimeoutError("slow"), True),
    (__import__("redis").exceptions.BusyLoadingError("loading"), True),
    (__import__("redis").exceptions.ResponseError("LOADING Redis is loading the dataset"), True),
    (__import__("redis").exceptions.ResponseError("OOM command not allowed"), True),
    (__import__("redis").exceptions.ResponseError("WRONGTYPE Operation against a key"), False),
    (__import__("redis").exceptions.DataError("Invalid input of type: 'dict'"), False),
    (__import__("aiokafka").errors.KafkaConnectionError("down"), True),
    (__import__("aiokafka").errors.KafkaTimeoutError(), True),
    (__import__("aiokafka").errors.NotLeaderForPartitionError(), True),
    (__import__("aiokafka").errors.MessageSizeTooLargeError(), False),
    (ConnectionRefusedError(), True),
    (FileNotFoundError(), False),
    (KeyError("bug"), False),
    (_wrapped(__import__("aiokafka").errors.KafkaConnectionError("down")), True),  # Faust wraps sends
    (_wrapped(KeyError("bug")), False),
])
def test_only_a_dependency_away_is_an_outage(exc, outage):
    from streams.retry import is_outage
    assert is_outage(exc) is outage


def test_a_bug_raised_while_handling_an_outage_is_a_bug():
    from streams.retry import is_outage
    try:
        try:
            raise ConnectionRefusedError()
        except ConnectionRefusedError:
            raise KeyError("bug in the handler")
    except KeyError as exc:
        assert not is_outage(exc)  # its __context__ is the outage; its cause is not


@pytest.mark.parametrize("hw,applied,want", [(None, 5, 0), (-1, 5, 0), (10, 9, 0), (10, 4, 5), (10, None, 10),
                                             (3, 9, 0)])
def test_records_behind(hw, applied, want):
    from streams.status import lag
    assert lag(hw, applied) == want


def test_dead_worker_entries_are_found():
    from streams.status import dead, doc
    now = 1_000_000
    live = json.dumps(doc(now - 1_000, {"case": [1, 0]}, {"case": 3}, [], None, "h:1")).encode()
    old = json.dumps(doc(now - 61_000, {}, {}, [], "redis", "h:2")).encode()
    assert dead({b"h:1": live, b"h:2": old, b"h:3": b"not json"}, now) == [b"h:2", b"h:3"]
    assert json.loads(live)["case"] == [0, 1]
