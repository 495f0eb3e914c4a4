"""A definition's Python transform: its output columns and types
(``transform_output``), its rows as binary COPY (``copy_rows``) and the worker
processes that transform batches in parallel (``transform_workers``).

May import ``services.sync.read``, ``services.sync.write``, ``services.base`` and
``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.transform.copy_rows import BinaryRows
    from services.sync.transform.transform_output import (
        binary_copyable,
        check_transform_columns,
        output_types,
    )
    from services.sync.transform.transform_workers import (
        EncodedBatch,
        TransformWorkers,
        worker_count,
    )

__all__ = [
    "BinaryRows",
    "EncodedBatch",
    "TransformWorkers",
    "binary_copyable",
    "check_transform_columns",
    "output_types",
    "worker_count",
]
_HOMES = {
    "BinaryRows": "services.sync.transform.copy_rows",
    "EncodedBatch": "services.sync.transform.transform_workers",
    "TransformWorkers": "services.sync.transform.transform_workers",
    "binary_copyable": "services.sync.transform.transform_output",
    "check_transform_columns": "services.sync.transform.transform_output",
    "output_types": "services.sync.transform.transform_output",
    "worker_count": "services.sync.transform.transform_workers",
}
__getattr__ = lazy_exports(__name__, _HOMES)
