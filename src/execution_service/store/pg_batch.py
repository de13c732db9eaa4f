"""A PostgreSQL batch as one statement: the whole unit of work travels as one JSON document
and is written by data-modifying CTEs, one per table, in one round trip, commit included.

Why: written as a pipeline of single-row statements, a batch of one market order was a
dozen statements (BEGIN, the INSERTs, two balances, the position, the outbox, COMMIT), and
psycopg's Python work per statement (converting, dumping, collecting its result) was most
of the 1.15 ms of CPU the batch cost (`python bench/commit.py --sizes 1`, py-spy). Here the
rows are serialized once, in C (orjson), and PostgreSQL unpacks them
(`jsonb_to_recordset`); the statement's text never changes, so it is prepared once per
connection.

The statement is atomic on its own (autocommit). Every change that is not an insert is
compare-and-set, as before: the CTE returns the rows it changed, and
`execution_expect_rows` (migration 0003) fails the statement with a serialization failure
unless each changed every row it was given, so nothing of the batch is written. A
duplicate key fails it the same way (a unique violation). The column lists and their
types come from `tables.py`: each row is described once.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, Table
from sqlalchemy.types import TypeEngine

from execution_service.domain.codec import dumps
from execution_service.store import tables
from execution_service.store.types import ExactDecimal, UTCDateTime


def document(parts: dict[str, list[dict[str, Any]]], control: dict[str, Any], at: Any,
             instance: str, published_through: int | None) -> str:
    """The batch's JSON document: each part's rows as objects keyed by column."""
    return dumps({"at": at, "instance": instance, "published_through": published_through,
                  "control": [{"key": key, "value": value} for key, value in control.items()],
                  **parts}).decode()


def encode_bytes(value: bytes) -> str:
    """Binary column values travel as base64 (decoded by the statement)."""
    return base64.b64encode(value).decode()


@functools.cache
def statement(columns: tuple[tuple[str, tuple[str, ...]], ...],
              changes: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...],
              marks_sent: bool, sets_control: bool, outbox: str | None = None) -> str:
    """The batch statement for these inserted parts (table, columns), compare-and-set
    parts (table, the columns it sets, the columns its WHERE compares: a `prev_` column
    of the document for each), the instance's outbox mark to raise and control state to
    set. Only the parts a batch has are in its statement: an empty one still costs its
    plan. Its one row ends with the id of the last outbox row the batch wrote: `outbox`
    says whether the statement inserts them ("inserted") or a COPY before it did
    ("copied")."""
    ctes: list[str] = []
    checks: list[str] = []
    for table_name, names in columns:
        table = tables.metadata.tables[table_name]
        ctes.append(f"ins_{table_name} AS (INSERT INTO {table_name} ({', '.join(names)})"
                    f" SELECT {', '.join(_value(table, name) for name in names)}"
                    f" FROM {_records(table_name, table, names)}"
                    + (" RETURNING id)" if table_name == "outbox" else ")"))
    for table_name, setting, matching in changes:
        table = tables.metadata.tables[table_name]
        given = [*setting, *(f"prev_{name}" for name in matching)]
        types = {**{n: table.c[n].type for n in setting},
                 **{f"prev_{n}": table.c[n].type for n in matching}}
        ctes.append(
            f"upd_{table_name} AS (UPDATE {table_name} t SET "
            + ", ".join(f"{name} = {_value(table, name)}" for name in setting)
            + f" FROM {_records(f'changed_{table_name}', table, given, types)}"
            + " WHERE " + " AND ".join(f"t.{name} = x.prev_{name}" for name in matching)
            + " RETURNING 1)")
        checks.append(f"execution_expect_rows('{table_name}',"
                      f" jsonb_array_length(d.doc -> 'changed_{table_name}'),"
                      f" (SELECT count(*) FROM upd_{table_name}))")
    if marks_sent:  # (a mark never goes back; a new instance's row is made by `register`)
        ctes.append("sent AS (UPDATE outbox_marks SET published_through ="
                    " (d.doc ->> 'published_through')::bigint,"
                    " updated_at = (d.doc ->> 'at')::timestamptz FROM d"
                    " WHERE instance = d.doc ->> 'instance'"
                    " AND published_through < (d.doc ->> 'published_through')::bigint)")
    if sets_control:
        ctes.append("control AS (INSERT INTO control_state (key, value, updated_at)"
                    " SELECT x.key, x.value, (d.doc ->> 'at')::timestamptz FROM d,"
                    " jsonb_to_recordset(d.doc -> 'control') AS x(key text, value json)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                    " updated_at = EXCLUDED.updated_at)")
    through = {"inserted": "(SELECT max(id) FROM ins_outbox)",
               # (rows copied earlier in the transaction are visible to the statement)
               "copied": "(SELECT max(id) FROM outbox WHERE instance = d.doc ->> 'instance')",
               None: "NULL::bigint"}[outbox]
    return ("WITH " + ", ".join(["d AS (SELECT %s::jsonb AS doc)", *ctes])
            + " SELECT " + ", ".join([*checks, through]) + " FROM d")


def _records(part: str, table: Table, names: Sequence[str],
             types: dict[str, TypeEngine[Any]] | None = None) -> str:
    """`d, jsonb_to_recordset(...)`: the part's rows (objects keyed by column) as typed
    columns named `x.<column>`."""
    typed = ", ".join(f"{name} {_sql_type((types or {}).get(name) or table.c[name].type)}"
                      for name in names)
    return f"d, jsonb_to_recordset(d.doc -> '{part}') AS x({typed})"


def _value(table: Table, name: str) -> str:
    if isinstance(table.c[name].type, LargeBinary):
        return f"decode(x.{name}, 'base64')"
    return f"x.{name}"


def _sql_type(kind: TypeEngine[Any]) -> str:
    if isinstance(kind, ExactDecimal):
        return "numeric"
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Integer):
        return "bigint"
    if isinstance(kind, Boolean):
        return "boolean"
    return "text"
