"""A cheap fingerprint of what a definition's pre-flight check reads in one catalog.

A follower checks its definition once, then only compares this each cycle: one
small query per database. When a table is dropped, renamed, altered (a column
added, dropped or retyped, NOT NULL changed) or its indexes change, the
fingerprint changes and the follower runs the full check again.
"""

from __future__ import annotations

from typing import Any

import psycopg

# pg_attribute and pg_index of the relation the name resolves to now; its oid too, so a
# table dropped and created again under the same name counts as a change.
_FINGERPRINT_SQL = """
SELECT md5(concat_ws('|', c.oid::text,
  (SELECT string_agg(concat_ws(':', a.attnum, a.attname, a.atttypid, a.atttypmod,
                               a.attnotnull), ',' ORDER BY a.attnum)
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(concat_ws(':', i.indexrelid, i.indkey, i.indisunique, i.indisvalid,
                               i.indpred IS NULL), ',' ORDER BY i.indexrelid)
     FROM pg_index i WHERE i.indrelid = c.oid)))
FROM (SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))::oid AS oid) c
"""


def catalog_fingerprint(conn: psycopg.Connection[Any], schema: str, table: str) -> str:
    """The fingerprint of ``schema.table``'s columns and indexes as ``conn``'s catalog has
    them now ('' when there is no such table)."""
    row = conn.execute(_FINGERPRINT_SQL, (schema, table)).fetchone()
    return "" if row is None or row[0] is None else str(row[0])
