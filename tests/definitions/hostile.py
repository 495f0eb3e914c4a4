"""``Hostile``: identifiers that would inject SQL if they were ever spliced in unquoted."""

from __future__ import annotations

from services import ExportDefinition

HOSTILE = {
    "source": 'ev"; DROP TABLE canary; --',
    "cursor": 'at") OR true; --',
    "id": "id'); DELETE FROM canary; --",
    "dest": 'dst"; DROP TABLE canary; --',
}

DEFINITIONS = {
    "Hostile": ExportDefinition(
        source={
            "table": HOSTILE["source"],
            "cursor": {"field": HOSTILE["cursor"], "id_field": HOSTILE["id"]},
        },
        destination={
            "schema": "public",
            "table": HOSTILE["dest"],
            "conflict_columns": [HOSTILE["id"]],
        },
        batch_size=2,
    ),
}
