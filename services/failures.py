"""The row at fault and its error, kept as JSON for the operator."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from services.redact import redact

FAILURES_DIR = Path("failures")
FAILURES_DIR_VARIABLE = "TABLESYNC_FAILURES_DIR"


def failures_dir() -> Path:
    """Where failure files go: $TABLESYNC_FAILURES_DIR, else ./failures."""
    return Path(os.environ.get(FAILURES_DIR_VARIABLE) or FAILURES_DIR)


def _default(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def write_failure_file(
    definition: str,
    *,
    error: str,
    row: dict[str, Any] | None,
    key: dict[str, Any],
    base: Path | None = None,
) -> Path:
    """Write ``failures/<definition>/<timestamp>.json`` and return its path."""
    folder = (base or failures_dir()) / definition.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 1_000_000:06d}"
    path = folder / f"{stamp}.json"
    payload = {"definition": definition, "error": redact(error), "key": key, "row": row}
    text = orjson.dumps(
        payload, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    )
    path.write_text(redact(text.decode()))
    return path
