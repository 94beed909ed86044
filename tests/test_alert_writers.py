"""alerts.writers: a facility's decisions stored in order; one facility's slow writes hold no other's."""

from __future__ import annotations

import asyncio
import random
import zlib
from datetime import UTC, datetime

import pytest

from alerts.tracker import Decision
from alerts.writers import DecisionWriters
from contract.rules import Key

N = 4


def _writer(fid: str) -> int:
    return zlib.crc32(fid.encode()) % N


def _decision(i: int) -> Decision:
    return Decision("open", Key("fire_alarm", subject=f"dev-{i}"), None, datetime.now(UTC))


async def _running(writers: DecisionWriters) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(writers.run(k)) for k in range(N)]


async def test_each_facilitys_decisions_are_stored_in_the_order_they_were_made() -> None:
    rng = random.Random(7)
    stored: dict[str, list[int]] = {}

    async def persist(fid: str, ds: list[Decision], _ts: datetime | None) -> None:
        await asyncio.sleep(rng.uniform(0, 0.002))
        stored.setdefault(fid, []).extend(int(str(d.key.subject).split("-")[1]) for d in ds)

    writers = DecisionWriters(N, persist)
    tasks = await _running(writers)
    try:
        facilities = [f"xz-{i:04d}" for i in range(12)]
        assert len({_writer(f) for f in facilities}) > 1, "the facilities spread over writers"
        futures = [await writers.submit(facilities[i % 12], [_decision(i)], None) for i in range(600)]
        await asyncio.gather(*futures)
    finally:
        for t in tasks:
            t.cancel()
    for k, fid in enumerate(facilities):
        assert stored[fid] == list(range(k, 600, 12)), fid
    assert writers.depth() == 0


async def test_a_facility_with_slow_writes_does_not_hold_another_writers_facility() -> None:
    slow = next(f"xz-{i:04d}" for i in range(100) if _writer(f"xz-{i:04d}") == 0)
    other = next(f"xz-{i:04d}" for i in range(100) if _writer(f"xz-{i:04d}") == 1)
    release = asyncio.Event()

    async def persist(fid: str, _ds: list[Decision], _ts: datetime | None) -> None:
        if fid == slow:
            await release.wait()

    writers = DecisionWriters(N, persist)
    tasks = await _running(writers)
    try:
        held = [await writers.submit(slow, [_decision(i)], None) for i in range(5)]
        alarm = await writers.submit(other, [_decision(99)], None)
        await asyncio.wait_for(alarm, 1.0)
        assert not any(f.done() for f in held), "the slow facility's writes are still waiting"
        release.set()
        await asyncio.wait_for(asyncio.gather(*held), 1.0)
    finally:
        for t in tasks:
            t.cancel()


async def test_a_failed_write_reaches_its_submitter_and_the_writer_goes_on() -> None:
    async def persist(fid: str, _ds: list[Decision], _ts: datetime | None) -> None:
        if fid == "xz-bad":
            raise RuntimeError("the database refused it")

    writers = DecisionWriters(1, persist)
    task = asyncio.create_task(writers.run(0))
    try:
        bad = await writers.submit("xz-bad", [_decision(1)], None)
        good = await writers.submit("xz-good", [_decision(2)], None)
        with pytest.raises(RuntimeError, match="refused"):
            await bad
        await asyncio.wait_for(good, 1.0)
    finally:
        task.cancel()
