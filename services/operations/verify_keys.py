"""``--verify --keys``: the destination rows whose source row is gone (hard deletes), cheaply.

A cursor only sees rows that exist, so a row deleted in core stays in
analytics. This check compares keys only. When the key passes unchanged (no
transform, or ``destination.key_source`` naming the source columns it is
copied from) and its types match, the destination's keys are cut into ranges
of ``range_size`` in the order of its unique index, and each server counts and
hashes the range's keys where they are: a clean range moves no row. Only in a
range that differs are core's keys copied into analytics (keys only, binary
COPY) and compared there; each candidate is then looked up in core by
equality, so servers that sort text differently cost time, never a wrong
answer. A key computed by a transform is found by staging the transform's
output range by range in cursor order instead (the cost of reading every row
through the transform, still without comparing other columns).

Rows whose soft-delete flag is set in core count as gone. Rows whose cursor
(or tie-breaker) is NULL in core are not exported, but core still holds their
keys: their destination rows are never extra, never deleted, and are counted
apart (rule 18). Missing and
differing rows are the full ``--verify``'s business. With ``repair`` the
extra rows are deleted under the definition's lock, past the guard against
mass deletion (services/operations/repairs.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from services.base import Databases, ExportDefinition, RunError, Watermark
from services.operations.repairs import Repair, repair_command
from services.operations.verify import (
    SEEN_TABLE,
    create_seen_query,
    keep_left_out,
    keep_unexportable,
    null_cursor_line,
    ranges,
    remember_keys_query,
)
from services.store import SyncPlan, definition_lock, newest_cursor, planned
from services.store import key_sql as k
from services.sync import Staging, copy_blocks

Conn = psycopg.Connection[Any]
# Text compares by collation: a bucket scan's many comparisons a row cost more than an
# index range's few (1M text keys: 11 s against 2.4-4.7 s), so text keys go range by range.
TEXT_TYPES = {"text", "character varying", "character", "citext", "name"}
# Keys per range (per bucket for a one-column key, where more buckets cost nothing more).
DEFAULT_RANGE_ROWS = 10_000
DEFAULT_BUCKET_ROWS = 1_000
# Candidates looked up in core per query (text arrays of this many keys).
LOOKUP_ROWS = 10_000
BUCKETED = "hashed on each server, in one scan of each"
HASHED = "hashed on each server"
ONE_RANGE = "one range hashed on each server (core has no index on the key)"
STAGED = "through the transform (its key is computed)"


@dataclass
class KeysReport:
    """What ``--verify --keys`` found for one definition."""

    job: str
    definition: str
    destination: str
    method: str = HASHED
    keys_checked: int = 0  # destination keys compared (source rows read when staged)
    ranges_checked: int = 0
    ranges_differing: int = 0
    extra: int = 0
    examples: list[str] = field(default_factory=list)
    null_cursor: int = 0  # destination rows whose core row has a NULL cursor: kept
    deleted: int = 0
    repaired: bool = False

    @property
    def differs(self) -> bool:
        return self.extra > 0

    def lines(self) -> list[str]:
        what = "source row(s) read" if self.method == STAGED else "key(s) checked"
        lines = [
            f"{self.definition}: {self.keys_checked:,} {what} in {self.ranges_checked:,}"
            f" range(s) against {self.destination}, keys only, {self.method}"
        ]
        if not self.differs:
            lines.append("  no extra rows: every key analytics holds is still in core")
        else:
            shown = "; ".join(self.examples)
            lines.append(f"  extra: {self.extra:,} (e.g. {shown}): rows core no longer has")
        if self.null_cursor:
            lines.append(null_cursor_line(self.null_cursor))
        if self.repaired and self.differs:
            lines.append(f"  repaired: {self.deleted:,} extra row(s) deleted")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "differs": self.differs, "keys_only": True}

    def raise_if_differs(self) -> None:
        """RunError (exit 1) when analytics holds rows core no longer has, unrepaired."""
        if self.differs and not self.repaired:
            fix = repair_command(self.job, self.definition, keys=True)
            raise RunError(
                f"{self.definition}: analytics holds {self.extra:,} row(s) that core no longer"
                f" has; run `{fix}` to delete them"
            )


def key_map(plan: SyncPlan, core: Conn, analytics: Conn) -> tuple[k.KeyMap, str]:
    """The key's columns on both sides, and how they can be compared (HASHED, ONE_RANGE
    or STAGED). Hashing needs the key copied unchanged and with the same types."""
    dest_types = [plan.destination.columns[c].type_name for c in plan.keys]
    staged = k.KeyMap(plan.keys, [], dest_types, [])
    mapping = plan.definition.key_columns
    if mapping is None:
        return staged, STAGED
    source_types = [plan.source.columns[mapping[c]].type_name for c in plan.keys]
    if source_types != dest_types:
        return staged, STAGED
    if len(plan.keys) == 1 and plan.destination.columns[plan.keys[0]].base_type not in TEXT_TYPES:
        return _in_order(plan, mapping, plan.keys), BUCKETED
    dest = plan.destination
    orders = [
        cols
        for unique, cols in k.btree_indexes(analytics, dest.schema, dest.name)
        if unique and set(cols) == set(plan.keys)
    ] or [plan.keys]
    source_indexes = [
        cols for _, cols in k.btree_indexes(core, plan.source.schema, plan.source.name)
    ]
    for order in orders:
        keys = _in_order(plan, mapping, order)
        if any(cols[: len(order)] == keys.source for cols in source_indexes):
            return keys, HASHED
    return _in_order(plan, mapping, orders[0]), ONE_RANGE


def _in_order(plan: SyncPlan, mapping: dict[str, str], order: list[str]) -> k.KeyMap:
    source = [mapping[c] for c in order]
    return k.KeyMap(
        dest=list(order),
        source=source,
        dest_types=[plan.destination.columns[c].type_name for c in order],
        source_types=[plan.source.columns[c].type_name for c in source],
    )


class _KeyChecker:
    """One keys-only pass over a definition's destination."""

    def __init__(self, plan: SyncPlan, keys: k.KeyMap, core: Conn, analytics: Conn):
        self.plan, self.keys, self.core, self.analytics = plan, keys, core, analytics

    def hashed(self, report: KeysReport, size: int | None) -> None:
        """Range after range of destination keys; a range whose hashes differ is diffed."""
        lower: k.Bound = None
        while True:
            row = self.analytics.execute(k.dest_range(self.plan, self.keys, lower, size))
            count, digest, last = row.fetchone() or (0, None, None)
            if not count:
                return
            upper = tuple(last) if size is not None and last is not None else None
            found = self.core.execute(k.source_range(self.plan, self.keys, lower, upper))
            report.ranges_checked += 1
            report.keys_checked += int(count)
            if found.fetchone() != (count, digest):
                report.ranges_differing += 1
                self.diff_range(lower, upper)
            if size is None or count < size:
                return
            lower = upper

    def bucketed(self, report: KeysReport, size: int) -> None:
        """A one-column key: buckets of ``size`` destination keys, each server's counts and
        hashes of all of them in one scan; core's keys of the differing ones copied over."""
        plan, keys = self.plan, self.keys
        bounds = [r[0] for r in self.analytics.execute(k.bucket_bounds(plan, keys, size))]
        if not bounds:
            return
        params = {"bounds": bounds}
        held = _by_bucket(self.analytics.execute(k.bucket_hashes(plan, keys, source=False), params))
        found = _by_bucket(self.core.execute(k.bucket_hashes(plan, keys, source=True), params))
        differing = [b for b, sums in held.items() if found.get(b) != sums]
        report.ranges_checked, report.ranges_differing = len(held), len(differing)
        report.keys_checked = sum(count for count, _ in held.values())
        if 2 * len(differing) > len(held):  # most differ: every key, without the filter
            everything = k.copy_source_keys(plan, keys, None, None)
            self._diff(everything, k.range_candidates(plan, keys, None, None), None, bounded=False)
        elif differing:
            query = k.copy_bucket_keys(plan, keys)
            candidates = k.bucket_candidates(plan, keys)
            self._diff(query, candidates, {**params, "buckets": differing})

    def diff_range(self, lower: k.Bound, upper: k.Bound) -> None:
        """Copy core's keys of the range over, and remember the destination's it lacks."""
        plan, keys = self.plan, self.keys
        copy = k.copy_source_keys(plan, keys, lower, upper)
        candidates = k.range_candidates(plan, keys, lower, upper)
        self._diff(copy, candidates, None, bounded=lower is not None or upper is not None)

    def _diff(
        self,
        copy: sql.Composed,
        candidates: sql.Composed,
        params: dict[str, Any] | None,
        *,
        bounded: bool = True,
    ) -> None:
        """Copy core's keys over with ``copy``; remember the ``candidates`` that core lacks."""
        with self.analytics.transaction():
            with self.core.cursor() as reader, self.analytics.cursor() as writer:
                read = reader.copy(copy, params)
                with read as out, writer.copy(k.copy_core_keys_in(self.keys)) as into:
                    copy_blocks(out, into)
            for chunk in self._chunks(candidates, params):
                # Bounded candidates are confirmed by equality in core (see above).
                gone = self._absent(chunk) if bounded else chunk
                if gone:
                    self.analytics.execute(k.remember_extra(self.keys), _columns(gone))

    def _chunks(
        self, query: sql.Composed, params: dict[str, Any] | None
    ) -> Iterator[list[tuple[str, ...]]]:
        with self.analytics.cursor(name="tablesync_verify_candidates") as cursor:
            cursor.execute(query, params)
            while chunk := cursor.fetchmany(LOOKUP_ROWS):
                yield chunk

    def _absent(self, chunk: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        query = k.absent_in_source(self.plan, self.keys)
        return self.core.execute(query, _columns(chunk)).fetchall()

    def staged(self, report: KeysReport) -> None:
        """Every source row through the transform, range by range; its keys are the seen ones
        (a row with a NULL cursor's too: core holds it)."""
        plan, analytics = self.plan, self.analytics
        with self._seen_keys() as staging:
            report.null_cursor = keep_unexportable(plan, staging, self.core, analytics)
            keep_left_out(plan, self.core, analytics)  # core holds those keys: never extra
            newest = newest_cursor(self.core, plan)
            mark = Watermark(value=newest, inclusive=True)
            for window in ranges(self.core, plan, None, None, mark) if newest else []:
                with analytics.transaction():
                    staged = staging.stage(self.core, window)
                    report.ranges_checked += 1
                    report.keys_checked += staged.read
                    if not staged.nothing_written:
                        analytics.execute(remember_keys_query(plan))
            analytics.execute(k.remember_unseen(plan, self.keys, SEEN_TABLE))

    def null_cursor(self, report: KeysReport) -> None:
        """Count the destination rows of core's rows with a NULL cursor: the hashed paths
        compare them as held (key_sql.py), so this only says how many were kept."""
        with self._seen_keys() as staging:
            report.null_cursor = keep_unexportable(self.plan, staging, self.core, self.analytics)

    @contextmanager
    def _seen_keys(self) -> Iterator[Staging]:
        """Staging and the table of seen keys, both dropped afterwards, whatever happened."""
        staging = Staging(self.plan, self.analytics)
        self.analytics.execute(create_seen_query(self.plan))
        try:
            yield staging
        finally:
            staging.drop()
            if not self.analytics.broken:
                self.analytics.execute(k.drop_tables(SEEN_TABLE))


def _by_bucket(rows: psycopg.Cursor[Any]) -> dict[int, tuple[int, Any]]:
    return {int(bucket): (int(count), digest) for bucket, count, digest in rows}


def _columns(rows: list[tuple[str, ...]]) -> list[list[str]]:
    """Rows of key texts as one list per key column (the queries' text arrays)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _check(checker: _KeyChecker, report: KeysReport, range_size: int | None) -> None:
    if report.method == STAGED:
        checker.staged(report)
    elif report.method == BUCKETED:
        checker.bucketed(report, range_size or DEFAULT_BUCKET_ROWS)
    else:
        size = range_size or DEFAULT_RANGE_ROWS
        checker.hashed(report, size if report.method == HASHED else None)
    if report.method != STAGED:
        checker.null_cursor(report)
    found = checker.analytics.execute(k.extra_summary(checker.keys)).fetchone()
    if found is not None and found[0]:
        report.extra, report.examples = int(found[0]), list(found[1])


def verify_keys(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    repair: Repair | None = None,
    range_size: int | None = None,
) -> KeysReport:
    """Find ``name``'s destination rows whose key core no longer has (or has soft-deleted).

    With ``repair``, holds the definition's lock (LockHeldError while a run is
    busy) and deletes them past the guard (MassDeleteError when refused).
    Raises PreflightError like a run.
    """
    with planned(dbs, job, name, definition) as (plan, core, analytics):
        keys, method = key_map(plan, core, analytics)
        report = KeysReport(job, name, plan.destination.qualified, method)
        with definition_lock(analytics, job, name) if repair else nullcontext():
            analytics.execute(k.create_key_tables(plan, keys))
            try:
                _check(_KeyChecker(plan, keys, core, analytics), report, range_size)
                if repair is not None:
                    delete = k.delete_extra(plan, keys)
                    report.deleted = repair.delete(
                        analytics, plan, report.extra, lambda: analytics.execute(delete).rowcount
                    )
                    report.repaired = True
            finally:
                if not analytics.broken:
                    analytics.execute(k.drop_tables(k.CORE_KEYS_TABLE, k.EXTRA_TABLE))
    return report
