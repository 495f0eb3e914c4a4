"""The fault proxy of the network-fault tests does what it says: each fault, on a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from dbtools import TestDatabases
from faultproxy import FaultProxy


@pytest.fixture
def proxy(dbs: TestDatabases) -> Iterator[FaultProxy]:
    with FaultProxy.serving(dbs.analytics_url) as started:
        yield started


def _connect(proxy: FaultProxy, dbs: TestDatabases) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(proxy.url(dbs.analytics_url), autocommit=True, connect_timeout=5)


@pytest.mark.parametrize("fault", ["cut", "reset"])
def test_a_cut_or_reset_loses_the_open_connections_and_not_the_next(
    proxy: FaultProxy, dbs: TestDatabases, fault: str
) -> None:
    with _connect(proxy, dbs) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        getattr(proxy, fault)()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with _connect(proxy, dbs) as again:
        assert again.execute("SELECT 2").fetchone() == (2,)
    assert proxy.faults == 1 and proxy.connections == 2


def test_cut_after_bytes_fails_mid_stream(proxy: FaultProxy, dbs: TestDatabases) -> None:
    with _connect(proxy, dbs) as conn:
        proxy.cut_after(10_000)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT repeat('x', 100) FROM generate_series(1, 10000)").fetchall()


def test_a_stall_holds_the_query_until_healed(proxy: FaultProxy, dbs: TestDatabases) -> None:
    with _connect(proxy, dbs) as conn:
        proxy.stall()
        answered = threading.Event()

        def ask() -> None:
            conn.execute("SELECT 1")
            answered.set()

        threading.Thread(target=ask, daemon=True).start()
        assert not answered.wait(0.5)
        proxy.heal()
        assert answered.wait(5)


def test_a_dropped_reply_hides_a_commit_the_server_made(
    proxy: FaultProxy, dbs: TestDatabases
) -> None:
    dbs.query_analytics("CREATE TABLE t (n int)")
    with _connect(proxy, dbs) as conn:
        conn.autocommit = False
        conn.execute("INSERT INTO t VALUES (1)")
        proxy.drop_reply()
        with pytest.raises(psycopg.OperationalError):
            conn.commit()
    assert dbs.query_analytics("SELECT n FROM t") == [(1,)]


def test_the_control_port_applies_the_armed_fault(proxy: FaultProxy, dbs: TestDatabases) -> None:
    from services.base.testhooks import _ask_for_fault

    proxy.arm("reset")
    with _connect(proxy, dbs) as conn:
        _ask_for_fault(proxy.control_address)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
