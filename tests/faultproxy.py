"""TEST-ONLY: a TCP proxy between the runner and one database that fails on cue.

``FaultProxy(host, port).start()`` listens on a free local port and forwards
every connection to the database; ``proxy.url(database_url)`` is the same URL
through it. Faults apply to every connection open at that moment (a failover
or a cut cable takes them all); connections opened later go through again,
as a reconnect after an outage would:

- ``cut()``: both sides closed (FIN), as a server going away would;
- ``reset()``: both sides reset (RST), as a firewall dropping state would;
- ``stall()``: nothing forwarded or read any more, the sockets left open: a
  half-open connection, which only the runner's own timeouts can end;
  ``heal()`` forwards again;
- ``cut_after(n)``: the fault once ``n`` more bytes have gone through, in
  either direction; ``cut_in(seconds)``: the fault after a delay; ``disarm()``
  drops both and heals;
- ``drop_reply()``: the next answer the server sends is never delivered and
  its connection is cut: a COMMIT the server made whose reply was lost.

The runner can trigger the fault at an exact instant of its own: with
``TABLESYNC_TEST_KILL_WITH=fault:<control address>`` (services/base/testhooks.py)
its kill point asks this proxy's control port for ``proxy.arm(kind)``'s fault
and waits until it is done.

The proxy runs an asyncio loop in a daemon thread of the test process.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CHUNK = 64 * 1024
KINDS = ("cut", "reset", "stall", "drop_reply")


@dataclass(eq=False)
class _Link:
    """One proxied connection: the runner's side and the database's side."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    healed: asyncio.Event = field(default_factory=asyncio.Event)
    drop_reply: bool = False

    def close(self, *, reset: bool) -> None:
        for writer in (self.client, self.server):
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:  # linger 0: close() sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            else:
                writer.close()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """A proxy to ``host:port`` that cuts, resets or stalls its connections on cue."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.links: set[_Link] = set()
        self.armed = "cut"
        self.faults = 0  # faults applied so far
        self.connections = 0  # connections accepted so far
        self._budget: int | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = self.control_port = 0

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        """A started proxy to the server of ``url``."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432).start()

    @classmethod
    @contextmanager
    def serving(cls, url: str) -> Iterator[FaultProxy]:
        """A started proxy to the server of ``url``, closed when the block ends."""
        proxy = cls.for_url(url)
        try:
            yield proxy
        finally:
            proxy.close()

    def start(self) -> FaultProxy:
        self._thread.start()
        self.port, self.control_port = self._call(self._listen())
        return self

    def url(self, url: str) -> str:
        """``url`` going through this proxy."""
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if netloc[0] else host))

    @property
    def control_address(self) -> str:
        return f"127.0.0.1:{self.control_port}"

    # -- faults -----------------------------------------------------------------

    def arm(self, kind: str) -> None:
        """The fault that the control port, ``cut_after`` and ``cut_in`` apply."""
        assert kind in KINDS, kind
        self.armed = kind

    def cut(self) -> None:
        self._run(lambda: self._fault("cut"))

    def reset(self) -> None:
        self._run(lambda: self._fault("reset"))

    def stall(self) -> None:
        self._run(lambda: self._fault("stall"))

    def drop_reply(self) -> None:
        self._run(lambda: self._fault("drop_reply"))

    def heal(self) -> None:
        """Forward again on stalled connections."""
        self._run(self._heal_all)

    def cut_after(self, nbytes: int) -> None:
        """The armed fault once ``nbytes`` more bytes have been forwarded."""
        self._run(lambda: setattr(self, "_budget", nbytes))

    def cut_in(self, seconds: float) -> None:
        """The armed fault in ``seconds``."""
        self._run(lambda: self._timers.append(self.loop.call_later(seconds, self._timed)))

    def disarm(self) -> None:
        """Drop a byte budget or a delay not spent yet, and heal what is stalled."""

        def disarm() -> None:
            self._budget = None
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._heal_all()

        self._run(disarm)

    def close(self) -> None:
        """Close every connection and stop the proxy's loop."""
        self._run(self._close_all)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    # -- inside the loop ------------------------------------------------------------

    def _heal_all(self) -> None:
        for link in self.links:
            link.healed.set()

    def _close_all(self) -> None:
        for link in list(self.links):
            link.close(reset=False)

    def _timed(self) -> None:
        self._timers.clear()
        self._fault(self.armed)

    def _fault(self, kind: str) -> None:
        self.faults += 1
        for link in list(self.links):
            if kind == "stall":
                link.healed.clear()
            elif kind == "drop_reply":
                link.drop_reply = True
            else:
                self.links.discard(link)
                link.close(reset=kind == "reset")

    async def _listen(self) -> tuple[int, int]:
        proxy = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        control = await asyncio.start_server(self._control, "127.0.0.1", 0)
        return proxy.sockets[0].getsockname()[1], control.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        link = _Link(client=writer, server=up_writer)
        link.healed.set()
        self.links.add(link)
        link.tasks = [
            asyncio.ensure_future(self._pump(link, reader, up_writer, reply=False)),
            asyncio.ensure_future(self._pump(link, up_reader, writer, reply=True)),
        ]

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        reply: bool,
    ) -> None:
        try:
            while True:
                await link.healed.wait()  # stalled: read nothing, so the buffers fill up
                data = await reader.read(CHUNK)
                if not data:
                    break
                await link.healed.wait()
                if reply and link.drop_reply:
                    self.links.discard(link)
                    link.close(reset=False)
                    return
                data = self._within_budget(data)
                writer.write(data)
                await writer.drain()
                if self._budget == 0:
                    self._budget = None
                    self._fault(self.armed)
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if link in self.links:  # one side closed: close the other, as TCP would
                self.links.discard(link)
                link.close(reset=False)

    def _within_budget(self, data: bytes) -> bytes:
        if self._budget is None:
            return data
        data = data[: self._budget]
        self._budget -= len(data)
        return data

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One line asks for the armed fault (``fault``); the answer says it is done."""
        await reader.readline()
        self._fault(self.armed)
        writer.write(b"done\n")
        await writer.drain()
        writer.close()

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def _run(self, action: Callable[[], object]) -> None:
        async def run() -> None:
            action()

        self._call(run())
