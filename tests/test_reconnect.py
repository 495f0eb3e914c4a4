"""Taking fresh connections after a lost one gives back what it cannot use.

A follower retries a failed cycle with backoff; each retry replaces the lost analytics
connection and takes the definition's lock again on it. While another run holds that lock
every attempt fails, and the connection it took must go back to the pool, or a few retries
drain the pool and the follower's other definitions wait on it.
"""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest
from dbtools import TestDatabases

from services.base.db import Databases
from services.base.errors import LockHeldError
from services.base.settings import DatabaseUrls
from services.store import definition_lock
from services.sync.run.run_session import replace_lost_connections


def test_a_reconnect_that_meets_another_runs_lock_gives_its_connection_back(
    dbs: TestDatabases,
) -> None:
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)
    lost = psycopg.connect(dbs.analytics_url)
    lost.close()
    with (
        Databases(urls, max_size=1) as pools,
        psycopg.connect(dbs.analytics_url, autocommit=True) as other,
        definition_lock(other, "export-to-pg", "Events"),
        pools.core.connection() as core,
        ExitStack() as held,
    ):
        for _ in range(3):  # the analytics pool holds one connection: each retry needs it
            with pytest.raises(LockHeldError, match="another run now holds"):
                replace_lost_connections(
                    pools, held, core, lost, job="export-to-pg", definition="Events"
                )
        assert pools.analytics.get_stats()["pool_available"] == 1
