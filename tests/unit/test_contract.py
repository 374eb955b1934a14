"""docs/contract.md shows the schemas the code enforces, and its examples are valid."""

from scripts.gen_contract import DOC, EXAMPLES, render
from gridpulse import schemas


def test_contract_doc_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run `python scripts/gen_contract.py`"


def test_examples_round_trip():
    for name, ex in EXAMPLES.items():
        raw = schemas.encode(ex)
        assert schemas.DECODERS[{"CaseEvent": "case-events", "GpsBatch": "gps-fixes",
                                 "Alert": "alerts", "AlertAck": "alert-acks",
                                 "DeadLetter": "deadletter"}[name]].decode(raw) == ex


def test_readme_settings_table_is_current():
    from scripts.gen_readme import README, render as render_readme
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "run `python scripts/gen_readme.py`"
