"""Readings (CONTRACT §4): gas and CO levels, extinguisher pressure, battery, the indoor environment
of child areas; each with hysteresis, so that a value hovering at a threshold does not flap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.names import ref
from contract.registry import DeviceType
from contract.rules import Condition, Key

if TYPE_CHECKING:
    from alerts.view import Judging


def conditions(rt: Judging, out: dict[Key, Condition]) -> None:
    gas = rt.rules["gas_alarm"].thresholds
    ext = rt.rules["extinguisher_pressure"].thresholds
    env = rt.rules["environment_out_of_range"].thresholds
    batt = rt.rules["low_battery"].thresholds["battery_pct"]
    for dev, d in rt.devices.items():
        r = d.readings
        lel, co = r.get("gas_lel_pct"), r.get("co_ppm")
        if lel is not None or co is not None:
            bad = (lel or 0) >= gas["gas_lel_pct"] or (co or 0) >= gas["co_ppm"]
            ok = (lel or 0) < gas["gas_lel_pct"] * 0.8 and (co or 0) < gas["co_ppm"] * 0.8
            if rt.hyst(("gas_alarm", dev), bad, ok):
                out[Key("gas_alarm", dev)] = rt.cond(
                    "gas_alarm",
                    f"可燃气体/一氧化碳超标（{ref('device', dev)}）",
                    f"gas or CO above the alarm level ({ref('device', dev)})",
                )
        p = r.get("extinguisher_pressure_mpa")
        if p is not None:
            lo, hi = ext["min_mpa"], ext["max_mpa"]
            if rt.hyst(("extinguisher_pressure", dev), not lo <= p <= hi, lo + 0.02 <= p <= hi - 0.02):
                out[Key("extinguisher_pressure", dev)] = rt.cond(
                    "extinguisher_pressure",
                    f"灭火器压力异常 {p:.2f} MPa（{ref('device', dev)}）",
                    f"extinguisher pressure {p:.2f} MPa outside the green band ({ref('device', dev)})",
                )
        low = d.battery is not None and (d.battery < batt or ("low_battery", dev) in rt.latched_readings)
        if low and d.battery is not None and rt.hyst(("low_battery", dev), d.battery < batt, d.battery >= batt + 5):
            out[Key("low_battery", dev)] = rt.cond(
                "low_battery",
                f"电量低 {d.battery:.0f}%（{ref('device', dev)}）",
                f"battery low {d.battery:.0f}% ({ref('device', dev)})",
            )
        if d.type is DeviceType.ENV_SENSOR and d.child_area and r:
            co2, tc, rh = r.get("co2_ppm"), r.get("temperature_c"), r.get("humidity_pct")
            bad = (
                (co2 is not None and co2 > env["co2_ppm"])
                or (tc is not None and not env["temp_min"] <= tc <= env["temp_max"])
                or (rh is not None and not env["rh_min"] <= rh <= env["rh_max"])
            )
            ok = (
                (co2 is None or co2 <= env["co2_ppm"] - 50)
                and (tc is None or env["temp_min"] + 0.5 <= tc <= env["temp_max"] - 0.5)
                and (rh is None or env["rh_min"] + 2 <= rh <= env["rh_max"] - 2)
            )
            if rt.hyst(("environment_out_of_range", dev), bad, ok):
                out[Key("environment_out_of_range", dev)] = rt.cond(
                    "environment_out_of_range",
                    f"室内环境超标（{ref('device', dev)}）",
                    f"indoor environment out of range ({ref('device', dev)}): CO2 {co2}, {tc} °C, {rh} %RH",
                )
