"""Wire schemas accept what the contract allows and name the field of what they refuse."""

import msgspec
import pytest

from gridpulse.schemas import decode_case, decode_gps

GOOD_CASE = (b'{"v":1,"id":"e1","case":"c1","type":"reported","ts":1795741200000,'
             b'"grid":"330203001001001","category":"sanitation","severity":3}')


def case(**changes):
    d = msgspec.json.decode(GOOD_CASE)
    d.update(changes)
    return msgspec.json.encode({k: v for k, v in d.items() if v is not ...})


@pytest.mark.parametrize("raw,field", [
    (case(severity=0), "$.severity"),
    (case(severity=5), "$.severity"),
    (case(type="teleported"), "$.type"),
    (case(ts=12), "$.ts"),
    (case(grid="abc"), "$.grid"),
    (case(id=""), "$.id"),
    (case(id="has space"), "$.id"),
    (case(lon=200.0, lat=29.0), "$.lon"),
    (case(v=2), "$.v"),
    (case(case=...), "case"),
    (case(satisfaction=6), "$.satisfaction"),
])
def test_invalid_case_events_name_the_field(raw, field):
    with pytest.raises(msgspec.ValidationError) as err:
        decode_case(raw)
    assert field in str(err.value)


def test_valid_case_event_and_optional_fields():
    ev = decode_case(case(lon=121.5, lat=29.8, dept="urban", satisfaction=5, note="路灯不亮"))
    assert ev.type == "reported" and ev.dept == "urban" and ev.note == "路灯不亮"


@pytest.mark.parametrize("fixes,ok", [
    ([[1795741200000, 121.5, 29.8, 5.0]], True),
    ([], False),
    ([[1795741200000, 121.5, 29.8]], False),
    ([[1795741200000, 121.5, 99.0, 5.0]], False),
    ([[1795741200000, 121.5, 29.8, -1.0]], False),
])
def test_gps_batches(fixes, ok):
    raw = msgspec.json.encode({"v": 1, "id": "b", "terminal": "T1", "worker": "W1",
                               "grid": "330203001001001", "fixes": fixes})
    if ok:
        assert decode_gps(raw).fixes[0].lon == 121.5
    else:
        with pytest.raises(msgspec.ValidationError, match="fixes"):
            decode_gps(raw)


@pytest.mark.parametrize("changes", [
    {}, {"id": "bad id"}, {"terminal": ""}, {"worker": "W/1"}, {"grid": "33020300100100x"},
    {"grid": "３３０２０３００１００１００１"}, {"grid": "12345"}, {"v": 2}, {"id": "x" * 65},
    {"fixes": [[1795741200000, 121.5, 29.8, 5.0]] * 1001},
])
def test_fast_gps_decoder_accepts_exactly_what_the_schema_accepts(changes):
    from gridpulse.schemas import _gps_decoder
    d = {"v": 1, "id": "b-1", "terminal": "T1", "worker": "W1", "grid": "330203001001001",
         "fixes": [[1795741200000, 121.5, 29.8, 5.0]], **changes}
    raw = msgspec.json.encode(d)
    try:
        strict = _gps_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        with pytest.raises(msgspec.ValidationError) as got:
            decode_gps(raw)
        assert str(got.value) == str(exc)
    else:
        fast = decode_gps(raw)
        assert [getattr(fast, f) for f in strict.__struct_fields__] == \
               [getattr(strict, f) for f in strict.__struct_fields__]
