"""A TCP relay a test can cut and restore, for outage tests (as asyncpg's adversity tests do)."""

from __future__ import annotations

import asyncio
import contextlib

from runtime.stack import free_port


class FaultProxy:
    """Listens on 127.0.0.1:port and relays to target. `cut()` drops every connection and refuses
    new ones (accepts then closes at once) until `restore()`. `stall()` is the network partition a
    refusal is not: connections stay open but nothing passes either way, and new ones are accepted
    and never answered, until `restore()`. `pause()` is a partition that heals before either side's
    timeout: nothing passes, but nothing is lost either (TCP holds and retransmits), until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._cut = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._passing = asyncio.Event()  # cleared by pause(): bytes wait, neither read nor dropped
        self._passing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        self.cut()
        self._flowing.set()  # connections waiting in a stall wake up to the cut
        self._passing.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def cut(self) -> None:
        self._cut = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def stall(self) -> None:
        self._flowing.clear()

    def pause(self) -> None:
        self._passing.clear()

    def restore(self) -> None:
        self._cut = False
        self._flowing.set()
        self._passing.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        await self._flowing.wait()  # while stalled: accepted, never answered
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst), name="faultproxy-pipe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while await self._passing.wait() and (data := await src.read(65536)):
                if not self._flowing.is_set():
                    continue  # lost in the partition
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(dst)
            dst.transport.abort()
