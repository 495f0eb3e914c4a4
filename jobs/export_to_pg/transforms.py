"""Row transforms of the shipped definitions: plain functions, tested on their own."""

from __future__ import annotations

from services.base.definition import Row


def stat_event_row(row: Row) -> Row | None:
    """A core "StatEvent" row as analytics_raw.stat_event wants it; None skips it.

    Events without a source_id cannot be attributed to anyone and are skipped;
    the "publisher" source was renamed "api" in analytics.
    """
    if not row["source_id"]:
        return None
    source = "api" if row["source"] == "publisher" else row["source"]
    return {
        "old_id": row["id"],
        "created_at": row["createdAt"],
        "updated_at": row["updatedAt"],
        "type": row["type"],
        "source": source,
        "source_id": row["source_id"],
        "source_name": row["source_name"],
        "from_partner_id": row["from_publisher_id"],
        "to_partner_id": row["to_publisher_id"],
        "mission_id": row["mission_id"],
        "host": row["host"],
        "user": row["user"],
        "is_bot": row["is_bot"],
        "is_widget": source == "widget",
        "tags": row["tags"],
        "custom_attributes": row["custom_attributes"],
    }


# stat_event_row as SQL, for StatEventSQL: each destination column's expression over
# core's "StatEvent" columns (quoted: they are mixed case, and "user" is a keyword).
STAT_EVENT_SELECT = {
    "old_id": '"id"',
    "created_at": '"createdAt"',
    "updated_at": '"updatedAt"',
    "type": '"type"',
    "source": """CASE "source" WHEN 'publisher' THEN 'api' ELSE "source" END""",
    "source_id": '"source_id"',
    "source_name": '"source_name"',
    "from_partner_id": '"from_publisher_id"',
    "to_partner_id": '"to_publisher_id"',
    "mission_id": '"mission_id"',
    "host": '"host"',
    "user": '"user"',
    "is_bot": '"is_bot"',
    # After the rename: a "publisher" event is not a widget's; NULL is not "widget" either.
    "is_widget": """"source" IS NOT DISTINCT FROM 'widget'""",
    "tags": '"tags"',
    # JSON null reaches stat_event_row as None, which it writes as SQL NULL: the same here.
    "custom_attributes": """NULLIF("custom_attributes", 'null'::jsonb)""",
}
