"""Bad bytes become reasons, dead letters always fit a Kafka request, ticks find the laggards."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from gridpulse.schemas import (DEAD_KEY_MAX, DEAD_RAW_MAX, dead_key, dead_letter, decode_ack, decode_alert,
                               decode_case, decode_gps, decode_tick, encode)
from streams.clock import behind
from streams.poison import Poison, check_clock, decode

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


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.none(),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                              lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
                              max_leaves=30).map(lambda x: encode_any(x))))
def test_no_value_escapes_the_decoders_as_anything_but_poison(value):
    for d in DECODERS:
        try:
            decode(d, value)
        except Poison as exc:
            assert str(exc)


def encode_any(x) -> bytes:
    import json
    return json.dumps(x).encode()


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
    ({0: 5, 1: 9, 2: 9}, {0, 1, 2}, (9, [0])),
    ({0: 5, 1: 9}, {1}, (9, [])),  # only the partitions this worker owns
    ({0: 5, 1: 9}, {0, 3}, (9, [0])),  # a partition with no state yet is not ticked
    ({0: 7, 1: 7}, {0, 1}, (7, [])),
])
def test_ticks_go_to_owned_partitions_behind_the_city_clock(wms, owned, want):
    assert behind(wms, owned) == want
