"""The measured follower of ``make bench-freshness``: ``--follow`` on the bench's table.

``python -m tools.bench.follower EVERY_S`` with BENCH_CORE_URL and BENCH_ANALYTICS_URL
set: the definition ``Fresh`` (core ``fresh_event`` -> analytics ``fresh_event``, cursor
``updated_at`` with ``id``) followed as ``run_job.py JOB --follow`` follows one, until
SIGTERM (exit 0). Its own process, so its CPU and RSS are its own.
"""

from __future__ import annotations

import os
import sys

JOB = "bench"
NAME = "Fresh"


def main(argv: list[str]) -> int:
    from services import ExportDefinition
    from services.base import stopping
    from services.follow import FollowRequest, follow_definitions

    stopping.install()
    definition = ExportDefinition(
        source={"table": "fresh_event", "cursor": {"field": "updated_at", "id_field": "id"}},
        destination={"schema": "public", "table": "fresh_event", "conflict_columns": ["id"]},
    )
    environ = {
        **os.environ,
        "DATABASE_URL_CORE": os.environ["BENCH_CORE_URL"],
        "DATABASE_URL_ANALYTICS": os.environ["BENCH_ANALYTICS_URL"],
    }
    request = FollowRequest(JOB, {NAME: definition}, [NAME], every_s=float(argv[0]))
    follow_definitions(request, environ=environ)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
