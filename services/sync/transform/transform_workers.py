"""Transform batches in worker processes, so a Python transform can use every core.

One Python thread reads, transforms and re-encodes about 160k rows/s here
(2 cores, the bench's 11 columns; docs/benchmarks/round-6.md), most of it
decoding and encoding the values: on a full load with a
transform that thread, not PostgreSQL, is the limit. Workers lift it. Each
is a forked copy of the runner, so it has the definition and its transform
however the job loaded them, and it opens a read-only core connection of
its own. The runner still finds every batch end; it hands batch k to worker
k mod N, which reads that window, transforms it with the runner's own code
(services/sync/transform/transform_loop.py) and sends the batch back as COPY data. The
runner writes the batches in cursor order, each in its own transaction with
its position, exactly as a serial run does: workers only ever read.

A worker that cannot finish a batch (the transform raised, the fast path
refused a row, its connection or the worker itself died) says so, and the
runner redoes that batch itself, the serial way, which raises the exact
error naming the row at fault, or succeeds; the rest of the run is serial.
A redone batch is transformed twice, as a fast-path fallback's is.

Each worker holds at most one finished batch (``batch_size`` rows, encoded)
while it waits for the runner to take it.
"""

from __future__ import annotations

import math
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

# psycopg's text COPY formatter is not public API, but it is the very code a
# Copy uses to encode rows, so the bytes equal those of Copy.write_row; the
# worker has no COPY of its own to write to (binary rows: services/sync/transform/copy_rows.py,
# as the runner writes them). tests/test_transform_workers.py compares the two
# paths row for row.
from psycopg._copy_base import TextFormatter
from psycopg.abc import Buffer
from psycopg.adapt import Transformer

from services.base import first_line, mark_worker, redact, stall, stopping, use_exact_json
from services.store import SyncPlan
from services.store import sql as q
from services.sync.rows import StagedBatch
from services.sync.transform.copy_rows import BinaryRows
from services.sync.transform.transform_loop import (
    RowSink,
    transform_into_staging,
    transform_straight,
)
from services.sync.transform.transform_output import check_transform_columns, output_types
from services.sync.windows import NextWindow

if TYPE_CHECKING:  # multiprocessing itself is imported when workers start: most runs never do
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

MAX_DEFAULT_WORKERS = 8
_STOP_TIMEOUT_S = 5.0
_POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


def worker_count(*, configured: int | None, variable: int | None) -> int:
    """The definition's ``configured`` count, else TABLESYNC_TRANSFORM_WORKERS
    (``variable``), else one more than this process's cores, at most MAX_DEFAULT_WORKERS;
    0 transforms in the runner.

    One more than the cores because a worker waiting on core or on the runner
    leaves its core idle (1M-row bench, 2 cores: 2 workers 13.8 s, 3 workers
    12.7 s). Each worker holds a core connection while the run lasts. Workers
    are forked, so where fork is not available the runner transforms itself.
    """
    if not hasattr(os, "fork"):
        return 0
    if configured is not None:
        return configured
    return min(usable_cpus() + 1, MAX_DEFAULT_WORKERS) if variable is None else variable


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU
    limit (a cgroup CPU quota), which the affinity does not show."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(cpus or 1, math.ceil(quota))) if quota else cpus or 1


def cgroup_cpu_quota(cgroup: Path) -> float | None:
    """CPUs' worth of time the cgroup may use (cgroup v2 cpu.max, else v1 CFS quota);
    None when unlimited or unknown."""
    try:
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        return None if int(limit) <= 0 else int(limit) / int(period)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Task:
    window: q.Window
    fast: bool  # straight into the destination (no key text), see services/sync/write/fast_path.py
    columns: list[str] | None  # the run's output columns, once a batch has set them
    encoding: str  # the analytics connection's, for text COPY


@dataclass
class EncodedBatch:
    """A worker's batch: counts and columns as staging reports them, and its COPY data.

    ``failure`` says why the worker could not do the batch; it is then to be redone.
    """

    staged: StagedBatch = field(default_factory=StagedBatch)
    binary: bool = True
    fast: bool = False
    data: list[Buffer] = field(default_factory=list)
    failure: str | None = None


class _TextRows:
    """A RowSink that keeps rows as text COPY data in memory, in psycopg's own ~32 KiB pieces."""

    def __init__(self, formatter: TextFormatter, messages: list[Buffer]) -> None:
        self._formatter, self._messages = formatter, messages

    def write_row(self, row: Any) -> None:
        data = self._formatter.write_row(row)  # a full piece now and then, else b""
        if data:
            self._messages.append(data)

    def finish(self) -> None:
        self._messages.append(self._formatter.end())


def _encode_batch(plan: SyncPlan, core: psycopg.Connection[Any], task: _Task) -> EncodedBatch:
    """One batch read, transformed and encoded by this worker; raises what the runner would."""
    batch = EncodedBatch(fast=task.fast)
    sinks: list[BinaryRows | _TextRows] = []

    def open_sink(stack: ExitStack, columns: list[str]) -> RowSink:
        batch.binary, types = output_types(plan, core, columns, fast=task.fast)
        writer = stack.enter_context(core.cursor())
        use_exact_json(writer)  # the runner's COPY dumps json the same way
        if batch.binary:  # as the runner's COPY writes them (services/sync/transform/copy_rows.py)
            sinks.append(BinaryRows(writer, types, batch.data.append))
            return sinks[0]
        transformer = Transformer(writer)
        formatter = TextFormatter(transformer, encoding=task.encoding)
        transformer.set_dumper_types(types, formatter.format)
        sinks.append(_TextRows(formatter, batch.data))
        return sinks[0]

    def on_columns(columns: list[str]) -> None:
        check_transform_columns(plan, columns)

    loop = transform_straight if task.fast else transform_into_staging
    batch.staged = loop(plan, core, task.window, task.columns, on_columns, open_sink)
    if sinks:
        sinks[0].finish()
    return batch


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the runner dies, however it dies."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed pipe still stops the worker
        pass
    if os.getppid() != parent:  # the runner died before prctl took effect
        os._exit(1)


def _work(
    plan: SyncPlan,
    connect: Callable[[], psycopg.Connection[Any]],
    stalled_after_s: float | None,  # a worker's connection is watched too
    tasks: Connection,
    inherited: list[Connection],
    parent: int,
) -> None:
    """A worker's life: take windows until told to stop, answer each with an EncodedBatch."""
    _die_with_parent(parent)
    for other in inherited:  # the runner's ends: held here, they would hide its death
        other.close()
    mark_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    core: psycopg.Connection[Any] | None = None
    try:
        while (task := tasks.recv()) is not None:
            try:
                if core is None:
                    core = connect()
                    core.autocommit = True
                with stall.watched(stalled_after_s, core=core):
                    batch = _encode_batch(plan, core, task)
            except Exception as exc:  # the runner redoes the batch and reports it properly
                failure = f"{type(exc).__name__}: {redact(first_line(exc))}"
                tasks.send(EncodedBatch(fast=task.fast, failure=failure))
                return
            data, batch.data = batch.data, []
            tasks.send((batch, len(data)))
            for message in data:
                tasks.send_bytes(message)
    except (EOFError, OSError):  # the runner went away
        return
    finally:
        if core is not None:
            core.close()


@dataclass(eq=False)  # hashed by identity
class _Worker:
    process: BaseProcess
    tasks: Connection


class TransformWorkers:
    """Yields ``(window, EncodedBatch)`` per batch in cursor order, transformed by N processes.

    Windows come from ``next_window``, asked in order in the calling process
    (on its own core connection for cursor batches, its claims for a backfill's chunks).
    """

    def __init__(
        self,
        plan: SyncPlan,
        connect: Callable[[], psycopg.Connection[Any]],
        count: int,
        *,
        next_window: NextWindow,
        fast: bool,
        columns: list[str] | None,
        encoding: str,
        stall_s: float | None,
    ) -> None:
        self._plan, self._connect, self._count = plan, connect, count
        self._stall_s = stall_s
        self._next_window = next_window
        self._fast, self._columns, self._encoding = fast, columns, encoding
        self._workers: list[_Worker] = []
        # Windows handed out whose answers are not yet taken, oldest first.
        self._pending: deque[tuple[q.Window, _Worker]] = deque()

    def start(self) -> TransformWorkers:
        """Fork the workers; ``close()`` must follow, whatever happens."""
        import multiprocessing

        context = multiprocessing.get_context("fork")
        ends: list[Connection] = []
        try:
            for _ in range(self._count):
                mine, theirs = context.Pipe(duplex=True)
                args = (
                    self._plan, self._connect, self._stall_s, theirs, [*ends, mine], os.getpid()
                )  # fmt: skip
                process = context.Process(target=_work, args=args, name="tablesync-transform")
                process.daemon = True
                process.start()
                theirs.close()
                ends.append(mine)
                self._workers.append(_Worker(process, mine))
        except BaseException:
            self.close()
            raise
        return self

    def __iter__(self) -> Iterator[tuple[q.Window, EncodedBatch]]:
        pending = self._pending
        last: q.Window | None = None
        sent, exhausted = 0, False

        def hand_out() -> None:
            """Give every idle worker its next window, in order."""
            nonlocal last, sent, exhausted
            while not exhausted and len(pending) < len(self._workers):
                window = self._next_window(last)
                if window is None:
                    exhausted = True
                    return
                worker = self._workers[sent % len(self._workers)]
                with suppress(OSError):  # a worker gone: its answer will say so
                    worker.tasks.send(_Task(window, self._fast, self._columns, self._encoding))
                pending.append((window, worker))
                last, sent = window, sent + 1

        hand_out()
        while pending:
            window, worker = pending[0]
            batch = self._receive(worker)
            pending.popleft()  # taken, or the worker is gone: nothing more is to come
            if batch.failure is not None:  # the runner redoes it and carries on alone
                yield window, batch
                return
            hand_out()  # the worker just heard from starts its next window while this is written
            yield window, batch

    @staticmethod
    def _receive(worker: _Worker) -> EncodedBatch:
        try:
            while not worker.tasks.poll(_POLL_S):  # a stop is not kept waiting for a worker
                stopping.check()
            answer = worker.tasks.recv()
            if isinstance(answer, EncodedBatch):  # a failure
                batch = answer
            else:
                batch, messages = answer
                batch.data = [worker.tasks.recv_bytes() for _ in range(messages)]
        except (EOFError, OSError) as exc:
            code = worker.process.exitcode
            batch = EncodedBatch(failure=f"transform worker ended ({code}): {type(exc).__name__}")
        return batch

    def close(self) -> None:
        """Stop every worker and wait for it.

        A worker still busy with a batch nobody will take is killed: it only
        reads core, so nothing is lost, and it would otherwise wait to send.
        """
        busy = {worker for _, worker in self._pending}
        for worker in self._workers:
            if worker in busy:
                worker.process.kill()
                continue
            with suppress(OSError):  # already gone
                worker.tasks.send(None)
        for worker in self._workers:
            worker.process.join(timeout=_STOP_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.tasks.close()
        self._workers = []
        self._pending.clear()
