"""Logging: human lines by default, one JSON object per line with LOG_FORMAT=json, redacted."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from services.base.errors import ConfigurationError
from services.base.redact import register_secret
from services.reporting.logs import configure_logging

PASSWORD = "l0g-Pa55word"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_gives_one_parseable_object_per_line_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register_secret(PASSWORD)
    configure_logging(verbose=False, log_format="json")
    log = logging.getLogger("tablesync.test")

    log.info("connecting to %s", f"postgresql://etl:{PASSWORD}@db/core")
    log.warning(
        "batch done", extra={"definition": "StatEvent", "rows": 10_000, "dsn": {"pw": PASSWORD}}
    )
    try:
        raise RuntimeError(f"password={PASSWORD}\nsecond line")
    except RuntimeError:
        log.exception("run failed")
    log.debug("not shown without verbose")

    err = capsys.readouterr().err
    assert PASSWORD not in err
    entries = [orjson.loads(line) for line in err.splitlines()]
    assert len(entries) == 3
    assert entries[0]["message"] == "connecting to postgresql://etl:***@db/core"
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "tablesync.test"
    assert entries[1]["definition"] == "StatEvent" and entries[1]["rows"] == 10_000
    assert entries[1]["dsn"] == {"pw": "***"}
    assert "RuntimeError: password=***" in entries[2]["exc"]


def test_human_format_by_default_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register_secret(PASSWORD)
    configure_logging(verbose=False)

    logging.getLogger("tablesync.test").warning("token xoxb-1-2-abc and %s", PASSWORD)

    err = capsys.readouterr().err
    assert err.endswith(" WARNING tablesync.test: token *** and ***\n")


def test_verbose_shows_debug_and_configuring_twice_does_not_double_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(verbose=False, log_format="text")
    configure_logging(verbose=True, log_format="text")

    logging.getLogger("tablesync.test").debug("details")

    assert capsys.readouterr().err.count("details") == 1


def test_the_format_is_the_one_given_never_the_environment_s(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line reads LOG_FORMAT once and passes it (tests/test_reporting_cli.py)."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    configure_logging(verbose=False)

    logging.getLogger("tablesync.test").info("plain")

    assert capsys.readouterr().err.endswith("INFO tablesync.test: plain\n")


def test_unknown_log_format_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LOG_FORMAT='xml' is not a log format"):
        configure_logging(verbose=False, log_format="xml")
