"""Slack notifications, with the real slack-sdk clients talking to a local Slack-like server.

The contract: a failure posts one message naming the definition and the error, never a
password or token; a success posts only with SLACK_NOTIFY=all; a Slack that answers 500,
rejects the token or is down leaves the job's result as it was (a warning, False).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_server import BOT_TOKEN, SlackServer, free_port, serve_slack

from services.base.constants import RunStatus
from services.base.errors import ConfigurationError
from services.base.redact import register_secret
from services.base.results import RunCounts, RunResult
from services.reporting.notify import SlackSettings, build_blocks, notify_alert, notify_run

PASSWORD = "s3cr3t-Pa55word"
RESUME = "python run_job.py export-to-pg StatEvent"
FAST = FixedValueRetryIntervalCalculator(0.01)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


@pytest.fixture
def down_port() -> int:
    """A port on which nothing listens: bound once to pick it, then released."""
    return free_port()


def failed_result() -> RunResult:
    register_secret(PASSWORD)
    url = f"postgresql://tablesync:{PASSWORD}@db.internal:5432/core"
    return RunResult(
        job="export-to-pg",
        definition="StatEvent",
        status=RunStatus.FAILED,
        run_id=42,
        counts=RunCounts(read=10_000, created=0, skipped=0, errors=1),
        position_before={"value": "2026-11-23T10:00:00+00:00", "id": "se-000009999"},
        position_after={"value": "2026-11-23T10:00:00+00:00", "id": "se-000009999"},
        started_at=1000.0,
        finished_at=1002.5,
        error=f"connection to {url} failed: server closed the connection unexpectedly",
        failed_batch={
            "after": {"value": "2026-11-23T10:00:00+00:00", "id": "se-000009999"},
            "through": {"value": "2026-11-23T11:30:00+00:00", "id": "se-000019999"},
        },
        host="runner-1",
        pid=4242,
        exit_code=1,
        cursor_field="updatedAt",
        id_field="id",
    )


def succeeded_result() -> RunResult:
    return RunResult(
        job="export-to-pg",
        definition="ImportJob",
        status=RunStatus.SUCCEEDED,
        counts=RunCounts(read=5, created=5),
        position_after={"value": "2026-11-23T12:00:00+00:00", "id": 7},
        started_at=1000.0,
        finished_at=1000.25,
        host="runner-1",
        cursor_field="finishedAt",
        id_field="id",
    )


def notify(result: RunResult, settings: SlackSettings | None, retries: int = 2) -> bool:
    return notify_run(
        result, settings, resume_command=RESUME, max_retries=retries, retry_interval=FAST
    )


# --- a failure posts one clean message --------------------------------------------------


@pytest.mark.parametrize("transport", ["webhook", "web_api"])
def test_failure_posts_one_message_naming_definition_error_batch_and_resume(
    slack: SlackServer, transport: str
) -> None:
    settings = slack.webhook() if transport == "webhook" else slack.web_api()

    assert notify(failed_result(), settings) is True

    assert len(slack.requests) == 1
    payload = slack.requests[0].json()
    assert "StatEvent" in payload["text"]
    assert "server closed the connection unexpectedly" in payload["text"]
    blocks = json.dumps(payload["blocks"])
    assert "StatEvent" in blocks and "server closed the connection unexpectedly" in blocks
    assert "through: updatedAt=2026-11-23T11:30:00+00:00 id=se-000019999" in blocks
    assert "updatedAt=2026-11-23T10:00:00+00:00 id=se-000009999" in blocks  # last good
    assert RESUME in blocks
    assert "runner-1" in blocks


@pytest.mark.parametrize("transport", ["webhook", "web_api"])
def test_no_password_or_token_in_the_request_body(slack: SlackServer, transport: str) -> None:
    settings = slack.webhook() if transport == "webhook" else slack.web_api()

    notify(failed_result(), settings)

    body = slack.requests[0].body
    assert PASSWORD not in body
    assert BOT_TOKEN not in body
    assert "postgresql://tablesync:***@db.internal" in body


def test_web_api_posts_to_chat_post_message_in_the_channel(slack: SlackServer) -> None:
    notify(failed_result(), slack.web_api())

    request = slack.requests[0]
    assert request.path == "/api/chat.postMessage"
    assert request.json()["channel"] == "#data-alerts"
    # The token travels only in the Authorization header, as Slack expects.
    assert request.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_blocks_are_valid_block_kit_shapes() -> None:
    text, blocks = build_blocks(failed_result(), resume_command=RESUME)

    assert text.startswith("tablesync export-to-pg StatEvent failed: connection to")
    assert blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        assert block["type"] in {"header", "section", "context"}
        if "text" in block and block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert len(blocks) <= 50


def test_error_text_is_escaped_for_mrkdwn() -> None:
    result = failed_result()
    result.error = "value <script> & more"

    _, blocks = build_blocks(result, resume_command=RESUME)

    assert "value &lt;script&gt; &amp; more" in json.dumps(blocks)


# --- successes only with notify_on="all" -------------------------------------------------


def test_success_posts_nothing_by_default(slack: SlackServer) -> None:
    assert notify(succeeded_result(), slack.webhook()) is False
    assert slack.requests == []


@pytest.mark.parametrize("transport", ["webhook", "web_api"])
def test_success_posts_exactly_once_with_notify_all(slack: SlackServer, transport: str) -> None:
    settings = slack.webhook("all") if transport == "webhook" else slack.web_api("all")

    assert notify(succeeded_result(), settings) is True

    assert len(slack.requests) == 1
    payload = slack.requests[0].json()
    assert payload["text"] == "tablesync export-to-pg ImportJob succeeded"
    assert "finishedAt=2026-11-23T12:00:00+00:00 id=7" in json.dumps(payload["blocks"])


def test_no_settings_means_no_post() -> None:
    assert notify(failed_result(), None) is False


# --- Slack trouble never changes the outcome ---------------------------------------------


@pytest.mark.parametrize("transport", ["webhook", "web_api"])
def test_server_error_is_retried_then_logged_as_warning(
    slack: SlackServer, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack.mode = "500"
    settings = slack.webhook() if transport == "webhook" else slack.web_api()

    with caplog.at_level(logging.DEBUG):
        assert notify(failed_result(), settings, retries=2) is False

    assert len(slack.requests) == 3  # the first try and the 2 retries we configured
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "StatEvent" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_slack_down_returns_false_quickly(down_port: int, caplog: pytest.LogCaptureFixture) -> None:
    settings = SlackSettings(webhook_url=f"http://127.0.0.1:{down_port}/services/x")
    start = time.monotonic()

    with caplog.at_level(logging.WARNING):
        assert notify(failed_result(), settings) is False

    assert time.monotonic() - start < 2.0
    assert "not sent" in caplog.text and "Connection refused" in caplog.text


def test_web_api_down_returns_false(down_port: int) -> None:
    settings = SlackSettings(
        bot_token=BOT_TOKEN, channel="#c", api_base_url=f"http://127.0.0.1:{down_port}/api/"
    )

    assert notify(failed_result(), settings) is False


def test_bad_token_returns_false_and_warns_without_the_token(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    slack.mode = "invalid_auth"
    register_secret(BOT_TOKEN)

    with caplog.at_level(logging.WARNING):
        assert notify(failed_result(), slack.web_api()) is False

    assert len(slack.requests) == 1  # an auth error is not retried
    assert "invalid_auth" in caplog.text
    assert BOT_TOKEN not in caplog.text


def test_rejected_webhook_returns_false(slack: SlackServer) -> None:
    slack.mode = "invalid_auth"

    assert notify(failed_result(), slack.webhook()) is False


def test_rate_limit_is_retried_by_the_sdk(slack: SlackServer) -> None:
    slack.mode = "429-then-ok"

    assert notify(failed_result(), slack.webhook()) is True

    assert len(slack.requests) == 2


def test_a_bug_building_the_message_is_a_warning_not_an_exception(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    result = failed_result()
    result.counts = None  # type: ignore[assignment]

    with caplog.at_level(logging.WARNING):
        assert notify(result, slack.webhook()) is False

    assert "not sent" in caplog.text
    assert slack.requests == []


# --- free-form alerts --------------------------------------------------------------------


def test_alert_posts_whatever_notify_on_says(slack: SlackServer) -> None:
    lines = ["StatEvent is 3 h 10 min behind (max 1 h)", f"db postgres://u:{PASSWORD}@h/db"]

    assert notify_alert("tablesync lag", lines, slack.webhook(), retry_interval=FAST) is True

    payload = slack.requests[0].json()
    assert "tablesync lag" in payload["text"]
    assert "StatEvent is 3 h 10 min behind" in json.dumps(payload["blocks"])
    assert PASSWORD not in slack.requests[0].body


def test_alert_to_a_down_slack_returns_false(down_port: int) -> None:
    settings = SlackSettings(webhook_url=f"http://127.0.0.1:{down_port}/hook")

    assert notify_alert("t", ["x"], settings, max_retries=1, retry_interval=FAST) is False


# --- settings from the environment -------------------------------------------------------


def test_settings_absent_when_nothing_is_configured() -> None:
    assert SlackSettings.from_env({}) is None
    assert SlackSettings.from_env({"SLACK_CHANNEL": "#c"}) is None


def test_settings_from_webhook_and_from_token() -> None:
    hook = SlackSettings.from_env({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"})
    api = SlackSettings.from_env(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_CHANNEL": "#c", "SLACK_NOTIFY": "ALL"}
    )

    assert hook == SlackSettings(webhook_url="https://hooks.slack.com/services/T/B/x")
    assert api is not None and api.notify_on == "all" and api.channel == "#c"
    assert BOT_TOKEN not in repr(api)


def test_token_without_channel_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SLACK_CHANNEL is not"):
        SlackSettings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN})


def test_invalid_slack_notify_is_a_configuration_error() -> None:
    env = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x", "SLACK_NOTIFY": "always"}

    with pytest.raises(ConfigurationError, match="SLACK_NOTIFY='always' is not valid"):
        SlackSettings.from_env(env)


def test_webhook_that_is_not_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SLACK_WEBHOOK_URL must be"):
        SlackSettings.from_env({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/x"})
