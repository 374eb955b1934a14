"""The drill-down in a real browser: wall -> district -> town -> community -> grid -> case.

Same filled Redis as the wall and API tests (:func:`tests.integration.test_dashboard.filled_day`),
the Dash app served in a thread, Debian's chromium at 1920x1080. Every step is a click
on a link of the page before (the district from the wall's ranking when the wall links
it, else by URL), and every number a page shows must equal ``/api/area/<code>`` (and
``/api/case/<id>`` on the case page). Nothing may leave the machine. Screenshots:
``test-output/district.png``, ``town.png``, ``grid.png``, ``case.png`` (and
``community.png``, ``bottlenecks.png``).
"""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlparse

import pytest

from gridpulse.city import load_city
from gridpulse.clock import fmt_local
from gridpulse.views import LiveView
from tests.browser import launch_chromium, non_local_requests

from .test_dashboard import OUT, TZ, filled_day, serve_wall

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TILES = ("open", "overdue", "new_today", "closed_today", "on_time_rate", "satisfaction_rate",
         "active_workers", "coverage_30d", "silent_grids")
RATES = ("on_time_rate", "satisfaction_rate", "coverage_30d")
CHILD = ("open", "overdue", "new_today", "closed_today", "on_time_rate", "active_workers",
         "coverage_30d", "silent_grids")
STATUS_CLASS = {"ok": "ok", "met": "ok", "warning": "warn", "overdue": "bad", "missed": "bad"}


@pytest.fixture(scope="module")
def served(redis_url):
    url = filled_day(redis_url)
    with serve_wall(url) as (base, cfg):
        city = load_city("ningbo")
        yield base, LiveView.from_url(url, cfg.redis_prefix, TZ, city.code), city


def api(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=60) as resp:
        return json.loads(resp.read())


def text(key: str, x) -> str:
    """A figure as the pages print it (independent of dashboard/drill.py)."""
    if x is None:
        return "—"
    if key in RATES:
        return f"{x * 100:.1f}%"
    return str(x)


def wait_figures(page) -> None:
    """Until the refresh callback filled the tiles and the case table."""
    page.wait_for_function("() => { const e = document.getElementById('d-kpi-open');"
                           " return e && e.textContent !== '–'; }", timeout=60_000)
    page.wait_for_function("() => document.getElementById('d-case-total').textContent !== ''",
                           timeout=60_000)


def check_area(page, base: str, code: str, level: str) -> dict:
    """The page shows ``code``'s figures exactly as /api/area answers them."""
    assert urlparse(page.url).path == f"/{level}/{code}"
    wait_figures(page)
    doc = api(base, f"/api/area/{code}")
    vals = {**doc["kpis"], **{k: doc["visits"][k] for k in ("active_workers", "coverage_30d", "silent_grids")}}
    shown = {k: page.inner_text(f"#d-kpi-{k}").strip() for k in TILES}
    assert shown == {k: text(k, vals[k]) for k in TILES}, level
    crumbs = page.locator("#d-crumbs").inner_text()
    for b in doc["breadcrumbs"]:
        assert b["name"] in crumbs
    assert page.get_attribute("#d-crumb-city", "href") == "/wall"
    total = page.inner_text("#d-case-total")
    assert re.match(rf"^共 {doc['cases']['total']} 件", total), total
    ids = [a.inner_text() for a in page.locator("#d-cases a.d-case-link").all()]
    assert ids == [r["case"] for r in doc["cases"]["rows"]]
    for r in doc["children"]:
        for k in CHILD:
            assert page.inner_text(f"#d-child-{r['code']}-{k}").strip() == text(k, r[k]), (r["code"], k)
    page.wait_for_selector("canvas", timeout=30_000)
    return doc


def test_drill_down(served):
    base, view, city = served
    requests: list[str] = []
    errors: list[str] = []
    OUT.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("request", lambda req: requests.append(req.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # The wall: its district ranking links to the district pages when it has links.
        page.goto(base + "/wall")
        page.wait_for_selector("#district-rank .d-row", timeout=60_000)
        links = page.locator("#district-rank a[href^='/district/']")
        by_url = links.count() == 0
        districts = [d.code for d in city.districts]
        district = max(zip(view.counters([f"open|{c}" for c in districts]), districts))[1]
        if by_url:
            print("\nthe wall has no district links yet: /district/ opened by URL")
            page.goto(f"{base}/district/{district}")
        else:
            # The ranking is re-rendered every tick (the element detaches under Playwright's
            # actionability wait): click the link from inside the page.
            page.evaluate("sel => document.querySelector(sel).click()",
                          f"#district-rank a[href^='/district/{district}']")
            page.wait_for_url(f"**/district/{district}*", timeout=60_000)
        d_doc = check_area(page, base, district, "district")
        page.wait_for_timeout(2500)  # the map draws (software GL)
        page.screenshot(path=str(OUT / "district.png"))

        # Sort the children by overdue (click the header): most overdue first, then flip.
        page.click("#d-sort-overdue")
        want = sorted(d_doc["children"], key=lambda r: (r["overdue"], r["code"]), reverse=True)
        first = want[0]["code"]
        page.wait_for_function(
            f"() => {{ const a = document.querySelector('#d-children tr a'); return a && a.id === 'd-child-link-{first}'; }}",
            timeout=30_000)
        page.click("#d-sort-overdue")
        last = want[-1]["code"]
        page.wait_for_function(
            f"() => {{ const a = document.querySelector('#d-children tr a'); return a && a.id === 'd-child-link-{last}'; }}",
            timeout=30_000)

        # Filter the case table to the overdue cases (server side): the total is the counter's.
        page.click("#d-f-overdue")
        page.get_by_text("仅超期", exact=True).click()
        od = d_doc["kpis"]["overdue"]
        page.wait_for_function(f"() => document.getElementById('d-case-total').textContent.startsWith('共 {od} 件')",
                               timeout=30_000)

        # District -> its busiest town -> community -> grid, by clicking the child links.
        path = [("district", d_doc)]
        for level in ("town", "community", "grid"):
            parent = path[-1][1]
            child = max(parent["children"], key=lambda r: (r["open"], r["code"]))
            page.click(f"#d-child-link-{child['code']}")
            page.wait_for_url(f"**/{level}/{child['code']}", timeout=60_000)
            doc = check_area(page, base, child["code"], level)
            path.append((level, doc))
            page.wait_for_timeout(2000)
            if level != "grid":
                page.screenshot(path=str(OUT / f"{level}.png"))
        grid_doc = path[-1][1]
        grid = grid_doc["code"]
        # The grid's workers of the day, each linking to the replay of the day.
        date = grid_doc["date"]
        workers = api(base, f"/api/workers/{grid}/{date}")["terminals"]
        hrefs = [a.get_attribute("href") for a in page.locator("a.d-worker-link").all()]
        assert hrefs == [f"/worker/{s['worker']}?day={date}" for s in workers]
        assert page.inner_text("#d-worker-count") == str(len(workers))
        page.screenshot(path=str(OUT / "grid.png"))

        # Grid -> the most late open case.
        assert grid_doc["cases"]["rows"], "the busiest grid has open cases"
        case_id = grid_doc["cases"]["rows"][0]["case"]
        page.locator("#d-cases a.d-case-link").first.click()
        page.wait_for_url(f"**/case/{case_id}", timeout=60_000)
        page.wait_for_selector("#c-timeline .c-event", timeout=60_000)
        case = api(base, f"/api/case/{case_id}")
        assert page.locator("#c-timeline .c-event").count() == len(case["history"])
        ts = [e.inner_text() for e in page.locator("#c-timeline .c-ts").all()]
        assert len(ts) == len(case["history"])
        assert page.inner_text("#c-events") == str(len(case["history"]))
        assert page.inner_text("#c-reporter") == (case["reporter"] or "—")
        statuses = [s.get_attribute("data-status") for s in page.locator("#c-clocks .c-status").all()]
        assert statuses == [c["status"] for c in case["clocks"]]
        classes = [s.get_attribute("class").split()[-1] for s in page.locator("#c-clocks .c-status").all()]
        assert classes == [STATUS_CLASS[c["status"]] for c in case["clocks"]]
        assert page.locator("#c-alerts .c-alert").count() == len(case["alerts"])
        assert page.get_attribute("#c-grid-link", "href") == f"/grid/{case['area']['grid']['code']}"
        assert page.get_attribute("#c-district-link", "href") == f"/district/{case['area']['district']['code']}"
        assert case["area"]["grid"]["code"] == grid
        page.wait_for_selector("canvas#c-map", timeout=30_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(OUT / "case.png"))

        # The case -> its reporter's day: wall, district, case, worker's day is three clicks.
        day = fmt_local(case["reported"], TZ, "%Y-%m-%d")
        assert page.get_attribute("#c-worker-link", "href") == f"/worker/{case['reporter']}?day={day}"
        page.click("#c-worker-link")
        page.wait_for_selector("#replay-worker", timeout=60_000)
        assert page.inner_text("#replay-worker") == case["reporter"]

        # Bottlenecks of the district.
        page.goto(f"{base}/bottlenecks?area={district}")
        page.wait_for_selector("#b-depts tr", timeout=60_000)
        dep = api(base, f"/api/departments?area={district}")["departments"]
        for r in dep:
            assert page.inner_text(f"#b-dept-{r['dept']}-open") == str(r["open"])
            assert page.inner_text(f"#b-dept-{r['dept']}-overdue") == str(r["overdue"])
        page.screenshot(path=str(OUT / "bottlenecks.png"))

    assert not errors, errors
    assert not non_local_requests(requests), non_local_requests(requests)[:5]
