"""A definition's Python transform: the loop that runs it over a window's rows
(``transform_loop``, reading them as ``read_rows`` says), the deletes its rows ask for
(``row_deletes``), its output columns and types (``transform_output``), its rows as
binary COPY (``copy_rows``) and the worker processes that transform batches in
parallel (``transform_workers``).

May import ``services.sync.rows``, ``services.sync.windows``, ``services.base`` and
``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.transform.copy_rows import BinaryRows
    from services.sync.transform.transform_loop import (
        RowSink,
        transform_into_staging,
        transform_straight,
    )
    from services.sync.transform.transform_output import check_transform_columns, output_types
    from services.sync.transform.transform_workers import (
        EncodedBatch,
        TransformWorkers,
        worker_count,
    )

__all__ = [
    "BinaryRows",
    "EncodedBatch",
    "RowSink",
    "TransformWorkers",
    "check_transform_columns",
    "output_types",
    "transform_into_staging",
    "transform_straight",
    "worker_count",
]
_HOMES = {
    "BinaryRows": "services.sync.transform.copy_rows",
    "EncodedBatch": "services.sync.transform.transform_workers",
    "RowSink": "services.sync.transform.transform_loop",
    "TransformWorkers": "services.sync.transform.transform_workers",
    "check_transform_columns": "services.sync.transform.transform_output",
    "output_types": "services.sync.transform.transform_output",
    "transform_into_staging": "services.sync.transform.transform_loop",
    "transform_straight": "services.sync.transform.transform_loop",
    "worker_count": "services.sync.transform.transform_workers",
}
__getattr__ = lazy_exports(__name__, _HOMES)
