"""A run of one definition, from its lock to its end: the run loop
(``process_definition``) and its route (``route_choice``), how a run begins and what it
holds (``run_state``, ``run_session``, ``run_lock``), riding out a lost connection
(``resume``), what a failed or refused run becomes (``run_failure``, ``failures``,
``refusal``), and a followed definition's cycles (``following``).

May import every other room of ``services.sync`` (through their front doors),
``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

# Bound here, not lazily: its module shares the name, and once imported would answer.
from services.sync.run.process_definition import process_definition as process_definition

if TYPE_CHECKING:
    from services.sync.run.failures import failure_file_of, read_failure_file
    from services.sync.run.following import FollowedRun
    from services.sync.run.route_choice import planned_route

__all__ = [
    "FollowedRun",
    "failure_file_of",
    "planned_route",
    "process_definition",
    "read_failure_file",
]
_HOMES = {
    "FollowedRun": "services.sync.run.following",
    "failure_file_of": "services.sync.run.failures",
    "planned_route": "services.sync.run.route_choice",
    "read_failure_file": "services.sync.run.failures",
}
__getattr__ = lazy_exports(__name__, _HOMES)
