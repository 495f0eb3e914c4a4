"""Continuous sync (``--follow``, contract rule 20): one process keeps definitions in step,
a cycle every DURATION on warm connections, until a signal ends the service.

May import ``services.base``, ``services.store``, ``services.sync`` and
``services.reporting``; the command line (``services.cli``) imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.follow.loop import DEFAULT_EVERY_S, FollowRequest, follow_definitions

__all__ = [
    "DEFAULT_EVERY_S",
    "FollowRequest",
    "follow_definitions",
]
_HOMES = {
    "DEFAULT_EVERY_S": "services.follow.loop",
    "FollowRequest": "services.follow.loop",
    "follow_definitions": "services.follow.loop",
}
__getattr__ = lazy_exports(__name__, _HOMES)
