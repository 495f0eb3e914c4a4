"""The command-line front end that every job shares: selecting definitions,
running them (in parallel with ``--jobs``), the status view and the operator
commands behind one click command built per job.

May import every other room; nothing in ``services`` imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.cli.root import available_jobs, end_of_startup, job_module

__all__ = [
    "available_jobs",
    "end_of_startup",
    "job_module",
]
_HOMES = {
    "available_jobs": "services.cli.root",
    "end_of_startup": "services.cli.root",
    "job_module": "services.cli.root",
}
__getattr__ = lazy_exports(__name__, _HOMES)
