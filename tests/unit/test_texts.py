"""The wall's text tables: every label in both languages, names that fit their columns."""

import pytest

from dashboard.texts import EN, WALL_CATEGORIES_EN, ZH, texts, ui, with_lang
from gridpulse.catalog import CATEGORIES


def test_wall_category_names_fit_the_ticker():
    assert set(WALL_CATEGORIES_EN) <= set(CATEGORIES)
    names = texts("en")["categories"]
    assert set(names) == set(CATEGORIES)
    assert all(len(n) <= 20 for n in names.values()), names
    assert texts("zh")["categories"] == {c: cat.name for c, cat in CATEGORIES.items()}


@pytest.mark.parametrize("href, lang, expected", [
    ("/wall", "zh", "/wall"),
    ("/wall", "en", "/wall?lang=en"),
    ("/worker/W1?day=2026-11-27", "en", "/worker/W1?day=2026-11-27&lang=en"),
])
def test_links_keep_the_language(href, lang, expected):
    assert with_lang(href, lang) == expected


def test_replay_labels_exist_in_english():
    for key in ("replay_title", "replay_play", "replay_pause", "r_worker", "nf_track", "bad_date"):
        assert key in EN and ui("en")[key] != ZH[key]
