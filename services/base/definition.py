"""ExportDefinition: the declarative description of one table sync."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.base.constants import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DESTINATION_SCHEMA,
    DEFAULT_SOURCE_SCHEMA,
)
from services.base.durations import parse_duration
from services.base.errors import InvalidDefinitionError
from services.base.schedule import Schedule
from services.base.sql_text import frame_problem
from services.base.suggest import did_you_mean

Row = dict[str, Any]


class Delete:
    """What a transform returns to delete a key from the destination: ``Delete(old_id=1)``
    or ``Delete({"old id": 1})``, naming every conflict column. Counted as deleted when
    analytics held the key, else as skipped; in a batch, the later row of a key wins."""

    __slots__ = ("key",)

    def __init__(self, key: Mapping[str, Any] | None = None, /, **columns: Any) -> None:
        self.key: dict[str, Any] = {**(key or {}), **columns}

    def __repr__(self) -> str:
        return f"Delete({self.key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Delete) and other.key == self.key

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dict it holds


Transform = Callable[[Row], Row | Delete | None]

# PostgreSQL truncates identifiers past 63 bytes; a longer name would silently
# point at another object, so refuse it up front.
_MAX_IDENTIFIER_BYTES = 63


def _check_identifier(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    if len(value.encode()) > _MAX_IDENTIFIER_BYTES:
        raise ValueError(f"is longer than PostgreSQL's {_MAX_IDENTIFIER_BYTES}-byte limit")
    return value


def _check_sql_text(value: str) -> str:
    """A user's SQL expression: one expression, framed by the query that uses it."""
    if not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    problem = frame_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A bare column reference: a double-quoted identifier, or an unquoted one, which
# PostgreSQL folds to lower case (services/store/expressions.py proves it is a column).
_QUOTED = re.compile(r'\s*"((?:[^"]|"")+)"\s*')
_UNQUOTED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)\s*")


def bare_column(expression: str) -> tuple[str, bool] | None:
    """The column an expression names and nothing else (``"id"``, ``id``), and whether it
    is written unquoted (then it may be a keyword: ``user`` is CURRENT_USER); else None."""
    if quoted := _QUOTED.fullmatch(expression):
        return quoted.group(1).replace('""', '"'), False
    if unquoted := _UNQUOTED.fullmatch(expression):
        return unquoted.group(1).lower(), True
    return None


def _check_identifier_list(values: list[str]) -> list[str]:
    for value in values:
        _check_identifier(value)
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"names a column twice: {', '.join(duplicates)}")
    return values


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CursorSpec(_Model):
    """The column rows are read in order of, and an optional unique tie-breaker: one
    column or a list of columns that, with the cursor, make a row unique (rule 16)."""

    field: str
    id_field: str | list[str] | None = None

    _names = field_validator("field")(_check_identifier)

    @field_validator("id_field")
    @classmethod
    def _id_field(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None or isinstance(value, str):
            return value if value is None else _check_identifier(value)
        if not value:
            raise ValueError("must be a column name or a non-empty list of column names")
        return _check_identifier_list(list(value))

    @model_validator(mode="after")
    def _id_field_is_not_the_cursor(self) -> CursorSpec:
        if self.field in self.id_fields:
            raise ValueError(
                f"id_field names the cursor field {self.field!r}: the tie-breaker is the"
                " columns that come after it"
            )
        return self

    @property
    def id_fields(self) -> tuple[str, ...]:
        """The tie-breaker's columns in order; empty without one."""
        if self.id_field is None:
            return ()
        return (self.id_field,) if isinstance(self.id_field, str) else tuple(self.id_field)


class SoftDeleteSpec(_Model):
    """The source column that marks a row deleted: true (boolean) or not NULL (any other type)."""

    field: str

    _names = field_validator("field")(_check_identifier)


class SourceSpec(_Model):
    """Where rows come from in core."""

    schema_: str = Field(default=DEFAULT_SOURCE_SCHEMA, alias="schema")
    table: str
    cursor: CursorSpec
    columns: Literal["*"] | list[str] = "*"
    # A row read with this flag set is deleted from the destination by its key.
    soft_delete: SoftDeleteSpec | None = None
    # A SQL predicate over the source's columns, evaluated by core in the read query:
    # rows it does not hold true for are left out, counted as skipped (docs/select.md).
    where: str | None = None

    _names = field_validator("schema_", "table")(_check_identifier)

    @field_validator("where")
    @classmethod
    def _where(cls, value: str | None) -> str | None:
        return value if value is None else _check_sql_text(value)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: Literal["*"] | list[str]) -> Literal["*"] | list[str]:
        if value == "*":
            return value
        if not value:
            raise ValueError('must be "*" or a non-empty list of column names')
        return _check_identifier_list(list(value))


class DestinationSpec(_Model):
    """Where rows go in analytics, and the columns that make a row unique there."""

    schema_: str = Field(default=DEFAULT_DESTINATION_SCHEMA, alias="schema")
    table: str
    conflict_columns: list[str] = Field(min_length=1)
    # With a transform: the source column each conflict column is copied from
    # unchanged ({"old_id": "id"}), so `--verify --keys` can hash keys on each server.
    key_source: dict[str, str] | None = None

    _names = field_validator("schema_", "table")(_check_identifier)
    _keys = field_validator("conflict_columns")(_check_identifier_list)

    @model_validator(mode="after")
    def _key_source_covers_the_key(self) -> DestinationSpec:
        if self.key_source is None:
            return self
        for name in self.key_source.values():
            _check_identifier(name)
        if set(self.key_source) != set(self.conflict_columns):
            raise ValueError(
                f"key_source must name each conflict column ({', '.join(self.conflict_columns)})"
                f" once, not {', '.join(self.key_source) or 'none'}"
            )
        return self


class ExportDefinition(_Model):
    """One sync: source table and cursor, destination and keys, optional transform."""

    source: SourceSpec
    destination: DestinationSpec
    transform: Transform | None = None
    # Instead of a transform: each destination column as a SQL expression over the source's
    # columns, evaluated by core in the read query. Trusted configuration, like a view's
    # definition: composed into the query as written (services/store/sql.py frames it).
    select: dict[str, str] | None = None
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, gt=0, le=10_000_000)
    # Extra margin below the watermark for cursors not filled by the core
    # server's now() (application clocks, replicas); 0 trusts the watermark.
    safety_lag_s: float = Field(default=0.0, ge=0)
    # How long a non-timestamp cursor waits for open core writers of the source
    # table before holding its position; None: TABLESYNC_WRITER_WAIT_S, else 5 s.
    writer_wait_s: float | None = Field(default=None, ge=0)
    # Processes that run the transform from the second batch on; None:
    # TABLESYNC_TRANSFORM_WORKERS, else the cores + 1 (at most 8); 0 keeps it in
    # the runner, for a transform that keeps state of its own.
    transform_workers: int | None = Field(default=None, ge=0, le=64)
    # How far behind core the destination may trail before the console calls it late:
    # a duration ("15m", "2h", "1h30m") or seconds; None: TABLESYNC_MAX_LAG, else 1h.
    max_lag: float | None = Field(default=None, gt=0)
    # When `serve` runs it: "every 5m" or a cron expression (services/base/schedule.py);
    # None: only when asked (cron, the command line, the console's "Run now").
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else Schedule.parse(value).text

    @property
    def parsed_schedule(self) -> Schedule | None:
        """``schedule`` as due times, or None without one."""
        return None if self.schedule is None else Schedule.parse(self.schedule)

    @field_validator("max_lag", mode="before")
    @classmethod
    def _max_lag(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("select")
    @classmethod
    def _select(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("must map at least one destination column to a SQL expression")
        for column, expression in value.items():
            _check_identifier(column)
            try:
                _check_sql_text(expression)
            except ValueError as exc:
                raise ValueError(f"the expression of {column!r} {exc}") from None
        return value

    @model_validator(mode="after")
    def _select_says_what_is_read(self) -> ExportDefinition:
        if self.select is None:
            return self
        if self.transform is not None:
            raise ValueError("give a transform or a select, not both")
        if self.source.columns != "*":
            raise ValueError(
                "source.columns and select both say what is read: select's expressions name"
                " the source columns they use"
            )
        if self.destination.key_source is not None:
            raise ValueError(
                "destination.key_source is for a transform: with select, map each conflict"
                ' column from a bare source column ({"old_id": \'"id"\'})'
            )
        missing = [k for k in self.destination.conflict_columns if k not in self.select]
        if missing:
            raise ValueError(
                f"select must give each conflict column; it lacks {', '.join(missing)}"
            )
        return self

    @model_validator(mode="after")
    def _key_source_needs_a_transform(self) -> ExportDefinition:
        if self.destination.key_source is not None and self.transform is None and not self.select:
            raise ValueError(
                "destination.key_source is for a transform that copies its key from source"
                " columns; without a transform the conflict columns are the source's own"
            )
        return self

    @property
    def key_columns(self) -> dict[str, str] | None:
        """Each conflict column's source column when the key passes unchanged, else None
        (with select: when each conflict column's expression is a bare source column)."""
        if self.select is not None:
            bare = {k: bare_column(self.select[k]) for k in self.destination.conflict_columns}
            if any(b is None for b in bare.values()):
                return None
            return {k: b[0] for k, b in bare.items() if b is not None}
        if self.transform is None:
            return {k: k for k in self.destination.conflict_columns}
        return self.destination.key_source

    @property
    def source_columns(self) -> list[str] | None:
        """The selected source columns, or None for every column."""
        return None if self.source.columns == "*" else list(self.source.columns)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_of(a)) is not None), None)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names (as written in a definition) of the part of a definition at ``loc``."""
    model: type[BaseModel] | None = ExportDefinition
    for part in loc:
        fields = {} if model is None else model.model_fields
        found = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        model = None if found is None else _model_of(found.annotation)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _message(item: Any) -> str:
    """Pydantic's message, or for a field no model has, the field it is closest to."""
    if item["type"] != "extra_forbidden":
        return str(item["msg"])
    known = _fields_at(tuple(item["loc"][:-1]))
    hint = did_you_mean(str(item["loc"][-1]), known)
    return "unknown field" + (hint or f"; known: {', '.join(known)}")


def validation_problems(name: str, error: ValidationError) -> list[str]:
    """One readable line per problem, naming the definition and the field."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]).replace("schema_", "schema") or "definition"
        lines.append(f"definition {name!r}: {where}: {_message(item)}")
    return lines


def build_definition(name: str, raw: ExportDefinition | dict[str, Any]) -> ExportDefinition:
    """Validate ``raw`` as definition ``name``; InvalidDefinitionError lists every problem."""
    if isinstance(raw, ExportDefinition):
        return raw
    try:
        return ExportDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(name, exc)
        raise InvalidDefinitionError("; ".join(problems), problems=problems) from None


def build_definitions(
    raw: Mapping[str, ExportDefinition | dict[str, Any]],
) -> dict[str, ExportDefinition]:
    """Validate every definition of a job by name; one InvalidDefinitionError lists all problems.

    Giving plain dicts (rather than ``ExportDefinition(...)`` calls, which fail
    before their name is known) lets the error say which definition is wrong.
    """
    built: dict[str, ExportDefinition] = {}
    problems: list[str] = []
    for name, spec in raw.items():
        try:
            built[name] = build_definition(name, spec)
        except InvalidDefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidDefinitionError("; ".join(problems), problems=problems)
    return built
