"""Pre-flight verdicts kept a little while, for a caller that asks very often.

The status view checks each definition as a run would before writing (catalogs only),
so a break shows before the next run. A page does it at every view. Prometheus scrapes
/metrics every 30-60 s from each of its replicas, and each scrape would check every
definition's catalogs again: ``Verdicts`` keeps each verdict ``ttl_s`` seconds for it,
so a scrape costs what it did before the check while a break still reaches the metric
within ``ttl_s``. Thread-safe: the console reads statuses on a few threads at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """What the pre-flight check said of one definition: None, or what it refuses."""

    refusal: str | None


class Verdicts:
    """Each definition's latest verdict, fresh for ``ttl_s`` seconds after it was found."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._found: dict[tuple[str, str], tuple[float, Verdict]] = {}
        self._lock = threading.Lock()

    def fresh(self, job: str, name: str) -> Verdict | None:
        """The verdict found less than ``ttl_s`` ago, or None: check again."""
        with self._lock:
            found = self._found.get((job, name))
        if found is None or time.monotonic() - found[0] >= self._ttl_s:
            return None
        return found[1]

    def keep(self, job: str, name: str, refusal: str | None) -> None:
        with self._lock:
            self._found[(job, name)] = (time.monotonic(), Verdict(refusal))
