"""What a form post has to say, kept for the page it redirects to (POST-redirect-GET).

A run that did not start answers its form with a 303 to ``/notices/<key>``: reloading
that page reads the notice again and never posts the form a second time. Notices live
in the console's memory, the newest KEPT of them; a key is random, so one cannot be
guessed, and its text is escaped like every page value.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

KEPT = 256


@dataclass(frozen=True)
class Notice:
    status: int  # the HTTP status the page answers with (409: a lock is held, ...)
    title: str
    message: str | None = None
    lines: list[str] = field(default_factory=list)


class Notices:
    """The newest KEPT notices by key."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, Notice] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, notice: Notice) -> str:
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._kept[key] = notice
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return key

    def get(self, key: str) -> Notice | None:
        with self._lock:
            return self._kept.get(key)
