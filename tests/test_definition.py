"""ExportDefinition validation: every problem listed, naming the definition and the field."""

from __future__ import annotations

import pytest

from services import ExportDefinition
from services.base.definition import build_definition
from services.base.errors import EXIT_CONFIGURATION, InvalidDefinitionError

VALID = {
    "source": {"table": "T", "cursor": {"field": "updatedAt", "id_field": "id"}},
    "destination": {"table": "t", "conflict_columns": ["id"]},
}


def test_defaults_follow_the_contract() -> None:
    definition = build_definition("T", VALID)
    assert isinstance(definition, ExportDefinition)
    assert (definition.source.schema_, definition.destination.schema_) == (
        "public",
        "analytics_raw",
    )
    assert definition.source.columns == "*" and definition.source_columns is None
    assert (definition.transform, definition.batch_size) == (None, 10_000)


def test_every_problem_is_listed_with_its_field() -> None:
    raw = {
        "source": {"table": "", "cursor": {"field": "x" * 64}, "columns": ["a", "a"]},
        "destination": {"table": "t", "conflict_columns": []},
        "batch_size": 0,
        "surprise": True,
    }
    with pytest.raises(InvalidDefinitionError) as caught:
        build_definition("Bad", raw)
    assert caught.value.exit_code == EXIT_CONFIGURATION
    fields = [p.split(": ")[1] for p in caught.value.problems]
    assert sorted(fields) == [
        "batch_size",
        "destination.conflict_columns",
        "source.columns",
        "source.cursor.field",
        "source.table",
        "surprise",
    ]
    assert all(p.startswith("definition 'Bad': ") for p in caught.value.problems)


def test_build_definitions_names_each_wrong_definition_and_keeps_the_good_ones() -> None:
    from services import build_definitions
    from services.base.errors import InvalidDefinitionError

    good = {
        "source": {"table": "t", "cursor": {"field": "at"}},
        "destination": {"table": "t", "conflict_columns": ["id"]},
    }
    assert list(build_definitions({"Good": good})) == ["Good"]
    bad = {**good, "batch_size": 0}
    worse = {**good, "destination": {"table": "t", "conflict_columns": []}}
    with pytest.raises(InvalidDefinitionError) as caught:
        build_definitions({"Good": good, "Bad": bad, "Worse": worse})
    assert caught.value.problems == [
        "definition 'Bad': batch_size: Input should be greater than 0",
        "definition 'Worse': destination.conflict_columns: List should have at least 1 item"
        " after validation, not 0",
    ]


def test_key_source_names_every_conflict_column_and_needs_a_transform() -> None:
    destination = {"table": "t", "conflict_columns": ["old_id"], "key_source": {"other": "id"}}
    with pytest.raises(InvalidDefinitionError) as caught:
        build_definition("K", {**VALID, "destination": destination, "transform": dict})
    assert "key_source must name each conflict column (old_id) once, not other" in str(caught.value)
    destination["key_source"] = {"old_id": "id"}
    with pytest.raises(InvalidDefinitionError) as caught:
        build_definition("K", {**VALID, "destination": destination})
    assert "destination.key_source is for a transform" in str(caught.value)
    built = build_definition("K", {**VALID, "destination": destination, "transform": dict})
    assert built.key_columns == {"old_id": "id"}
    assert build_definition("K", VALID).key_columns == {"id": "id"}


def test_soft_delete_names_a_column_and_delete_names_a_key() -> None:
    from services import Delete

    source = {"table": "T", "cursor": {"field": "updatedAt"}, "soft_delete": {"field": "deletedAt"}}
    definition = build_definition("S", {**VALID, "source": source})
    assert definition.source.soft_delete is not None
    assert definition.source.soft_delete.field == "deletedAt"
    with pytest.raises(InvalidDefinitionError):
        build_definition("S", {**VALID, "source": {**source, "soft_delete": {"field": ""}}})
    assert Delete(old_id=1) == Delete({"old_id": 1}) and Delete(old_id=1).key == {"old_id": 1}
