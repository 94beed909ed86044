"""Driving the pure alert engine with the simulators (no broker, no database): fast and exact.

The driver is the truth benchmark's (`bench.truth`), so the tests and the benchmark judge the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bench.truth import drive_engine, payloads

MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)

__all__ = ["MONDAY", "drive_engine", "payloads"]
