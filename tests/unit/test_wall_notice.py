"""The wall shows a notice (the working calendar's missing year) over the map, per language."""

from __future__ import annotations

from types import SimpleNamespace

from dashboard import layout

SPEC = {"under": {"initialViewState": {}}, "over": {"initialViewState": {}}}
CITY = SimpleNamespace(name="宁波市", name_en="Ningbo", districts=[])
NOTICE = {"zh": "工作日历缺少2027年节假日安排", "en": "no holiday schedule for 2027"}


def find(node, **attrs):
    """The first component under ``node`` (itself included) with these attribute values."""
    if all(getattr(node, k, None) == v for k, v in attrs.items()):
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = find(child, **attrs)
            if found is not None:
                return found
    return None


def test_no_notice_no_element():
    assert find(layout.Walls(CITY, SPEC, 1000, 5000).build("zh"), id="wall-notice") is None


def test_notice_in_the_pages_language_over_the_map():
    asked = []

    def notices():
        asked.append(1)
        return NOTICE

    walls = layout.Walls(CITY, SPEC, 1000, 5000, notices)
    for lang in ("zh", "en"):
        el = find(find(walls.build(lang), className="col col-map"), id="wall-notice")
        assert el.children == NOTICE[lang] and el.className == "wall-notice"
    assert len(asked) == 2  # asked per page, so it appears without a restart
