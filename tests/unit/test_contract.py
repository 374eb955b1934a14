"""docs/contract.md shows the schemas the code enforces, and its examples are valid."""

import random
import re

import msgspec
import msgspec.inspect as mi

from gridpulse import schemas
from scripts.gen_contract import DOC, EXAMPLES, _float_len, blocks, largest, render, topic_structs


def test_contract_doc_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run `python scripts/gen_contract.py`"


def test_every_topic_has_its_schema_and_size_in_the_doc():
    text = DOC.read_text(encoding="utf-8")
    shown = set(re.findall(r"<!-- generated:([\w.]+) -->", text))
    want = {f"{s.__name__}.schema" for s in topic_structs().values()} | {"sizes"}
    assert want <= shown, f"add <!-- generated:NAME --> blocks for {sorted(want - shown)}"
    assert shown <= set(blocks()), sorted(shown - set(blocks()))
    for topic in topic_structs():
        assert f"| `{topic}` |" in blocks()["sizes"]


def test_examples_round_trip():
    decoder = {s.__name__: schemas.DECODERS[t] for t, s in topic_structs().items()}
    decoder["Tick"] = msgspec.json.Decoder(schemas.Tick)  # shares case-events
    for name, ex in EXAMPLES.items():
        assert decoder[name].decode(schemas.encode(ex)) == ex


def test_the_largest_gps_batch_is_the_stated_size():
    # Every field at its longest: 64-character ids, a 20-digit grid, 1,000 fixes whose
    # floats take 17 significant digits (and an exponent-free 23 characters for acc).
    w = "A" * 64
    fix = schemas.Fix(4102444800000, 100.00000000000001, 10.000000000000002, 0.000012345678901234568)
    batch = schemas.GpsBatch(id=w, terminal=w, worker=w, grid="9" * 20, fixes=[fix] * 1000)
    raw = schemas.encode(batch)
    assert schemas.decode_gps(raw) == batch
    assert len(raw) + len(b'"v":1,') == largest(schemas.GpsBatch)[0]  # v, the default, is left out


def test_float_sizes_bound_every_float_of_the_range():
    rng = random.Random(7)
    for lo, hi in ((73.0, 136.0), (3.0, 54.0), (0.0, 100000.0)):
        bound = _float_len(mi.FloatType(ge=lo, le=hi))
        values = [lo, hi, *(rng.uniform(lo, hi) for _ in range(20000)),
                  *(rng.uniform(lo, hi) * 10.0 ** -rng.randint(0, 300) for _ in range(2000))]
        assert max(len(msgspec.json.encode(v)) for v in values if lo <= v <= hi) <= bound


def test_readme_settings_table_is_current():
    from scripts.gen_readme import README, render as render_readme
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "run `python scripts/gen_readme.py`"


def test_an_empty_block_is_filled_without_swallowing_the_next():
    text = ("<!-- generated:sizes -->\n<!-- /generated -->\nkept\n"
            "<!-- generated:sizes -->\nstale\n<!-- /generated -->\n")
    out = render(text)
    assert out.count("kept") == 1 and "stale" not in out
    assert out.count(blocks()["sizes"]) == 2 and render(out) == out
