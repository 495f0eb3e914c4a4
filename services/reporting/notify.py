"""Slack notifications: one handler in the run's chain that can never change its outcome.

``notify_run`` and ``notify_alert`` never raise: a Slack outage, a bad token or a 500 is
logged as a warning and they return ``False``. Retries are slack_sdk's own retry handlers.
Every string sent passes through ``redact``.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from services.base import ConfigurationError, RunResult, RunStatus, redact, register_secret
from services.reporting.report import counts_text, first_line, format_batch, format_position

if TYPE_CHECKING:  # slack_sdk is imported where a message is sent: ~30 ms most runs skip
    from slack_sdk.http_retry.handler import RetryHandler
    from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator

log = logging.getLogger(__name__)

NotifyOn = Literal["failures", "all"]
NOTIFY_CHOICES: tuple[NotifyOn, ...] = ("failures", "all")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 2
# Slack rejects a section text over 3,000 characters, a field over 2,000, a header over 150.
SECTION_MAX_CHARS = 2_900
HEADER_MAX_CHARS = 150
FIELD_MAX_CHARS = 2_000
_STATUS_EMOJI = {
    RunStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.FAILED: ":x:",
    RunStatus.CANCELLED: ":octagonal_sign:",
}
# Posted whatever SLACK_NOTIFY says: a person should know (a stop is never silent).
ALWAYS_POSTED = (RunStatus.FAILED, RunStatus.CANCELLED)


# slack_sdk's WebClient.BASE_URL, spelled out so that importing this module
# does not import the Web API client.
SLACK_API_BASE_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackSettings:
    """Where notifications go. The webhook wins when both it and a bot token are set."""

    webhook_url: str | None = field(default=None, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    channel: str | None = None
    notify_on: NotifyOn = "failures"
    # Only tests change it, to point the real WebClient at a local server.
    api_base_url: str = SLACK_API_BASE_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SlackSettings | None:
        """Settings from ``SLACK_*`` variables; ``None`` when Slack is not configured.

        Raises ``ConfigurationError`` for a bot token without a channel, a webhook URL that
        is not http(s), or a ``SLACK_NOTIFY`` other than ``failures`` or ``all``.
        """
        webhook_url = _env(environ, "SLACK_WEBHOOK_URL")
        bot_token = _env(environ, "SLACK_BOT_TOKEN")
        channel = _env(environ, "SLACK_CHANNEL")
        notify_on = _notify_on(environ)
        # Registered here too, so the values are masked even if the caller never registered them.
        register_secret(webhook_url)
        register_secret(bot_token)
        if webhook_url and not webhook_url.lower().startswith(("https://", "http://")):
            raise ConfigurationError(
                "SLACK_WEBHOOK_URL must be an https:// incoming-webhook URL "
                "(https://hooks.slack.com/services/...)"
            )
        if bot_token and not channel:
            raise ConfigurationError(
                "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set SLACK_CHANNEL to the "
                "channel to post to (a name like #data-alerts or an id like C0123456789)"
            )
        if not webhook_url and not (bot_token and channel):
            return None
        return cls(webhook_url, bot_token, channel, notify_on)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name, "").strip() or None


def _notify_on(environ: Mapping[str, str]) -> NotifyOn:
    raw = environ.get("SLACK_NOTIFY", "").strip().lower() or "failures"
    for choice in NOTIFY_CHOICES:
        if raw == choice:
            return choice
    raise ConfigurationError(
        f"SLACK_NOTIFY={environ.get('SLACK_NOTIFY')!r} is not valid: use 'failures' "
        "(the default: only failed runs notify) or 'all' (successes too)"
    )


def retry_handlers(
    *, max_retries: int = DEFAULT_MAX_RETRIES, interval: RetryIntervalCalculator | None = None
) -> list[RetryHandler]:
    """slack_sdk's retry handlers for a refused connection, a 500/503 and a 429."""
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    calc = interval or BackoffRetryIntervalCalculator(backoff_factor=0.5)
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=calc),
        ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=calc),
        # Waits for Slack's Retry-After; one retry keeps a rate-limited job from stalling.
        RateLimitErrorRetryHandler(max_retry_count=1),
    ]


def _mrkdwn(text: str) -> str:
    """Redacted text made safe for mrkdwn: Slack reads ``<``, ``>`` and ``&`` as markup."""
    return redact(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    # Clipped before escaping, with room for the escapes, so the closing fence survives.
    return f"```{_mrkdwn(_clip(text, 2_000))}```"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX_CHARS)}}


def _header(text: str) -> dict[str, Any]:
    plain = _clip(redact(text), HEADER_MAX_CHARS)
    return {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": True}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    fields = [
        {"type": "mrkdwn", "text": _clip(f"*{name}*\n{_mrkdwn(value)}", FIELD_MAX_CHARS)}
        for name, value in pairs
    ]
    return {"type": "section", "fields": fields[:10]}  # Slack allows at most 10 fields.


def _host(result: RunResult) -> str:
    return result.host or socket.gethostname()


def build_blocks(result: RunResult, *, resume_command: str) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks for one run, every string redacted.

    Always: status, job, definition, counts, duration, host. For a failure or a stop also
    the error, the batch that failed or was rolled back (its cursor range), the last good
    position and ``resume_command``.
    """
    status = f"{result.status} (refused before writing)" if result.refused else str(result.status)
    emoji = _STATUS_EMOJI.get(result.status, ":information_source:")
    title = f"{emoji} tablesync {result.job} {result.definition} {status}"
    fallback = f"tablesync {result.job} {result.definition} {status}"
    blocks = [
        _header(title),
        _fields(
            [
                ("Status", status),
                ("Job", result.job),
                ("Definition", result.definition),
                ("Host", _host(result)),
                ("Duration", f"{result.duration_s:.2f} s ({result.rows_per_s:,.0f} rows/s)"),
                ("Rows", counts_text(result)),
            ]
        ),
    ]
    if result.status in ALWAYS_POSTED:
        error = first_line(result.error) or "unknown error"
        fallback += f": {error}"
        blocks.extend(_failure_blocks(result, resume_command))
    else:
        position = format_position(result.shown_position)
        blocks.append(_section(f"*Position*\n{_mrkdwn(position)}"))
    if result.held_back:
        blocks.append(_section(f"*Held back*\n{_mrkdwn(result.held_back)}"))
    blocks.append(_context(result))
    return _clip(redact(fallback), SECTION_MAX_CHARS), blocks


def _failure_blocks(result: RunResult, resume_command: str) -> list[dict[str, Any]]:
    # The position stays at the last committed batch on failure (docs/guarantees.md, guarantee 4).
    last_good = format_position(result.shown_position)
    if result.refused:  # nothing was read or written: there is no batch, and no resuming
        return [
            _section(f"*Error*\n{_code(result.error or 'unknown error')}"),
            _section(f"*Position (unchanged)*\n{_mrkdwn(last_good)}"),
            _section(f"*Once the problem is fixed, run*\n{_code(resume_command)}"),
        ]
    stopped = result.status == RunStatus.CANCELLED
    batch_label = "Batch in flight (rolled back)" if stopped else "Failed batch"
    blocks = [
        _section(f"*Error*\n{_code(result.error or 'unknown error')}"),
        _section(f"*{batch_label}*\n{_mrkdwn(format_batch(result.shown_batch))}"),
        _section(f"*Last good position*\n{_mrkdwn(last_good)}"),
        _section(f"*Resume with*\n{_code(resume_command)}"),
    ]
    if result.failure_file:
        blocks.append(_section(f"*Failed row saved to*\n{_code(result.failure_file)}"))
    return blocks


def _context(result: RunResult) -> dict[str, Any]:
    details = [f"run {result.run_id}" if result.run_id is not None else "run (not recorded)"]
    if result.pid:
        details.append(f"pid {result.pid}")
    text = _mrkdwn(" · ".join(details))
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def build_alert_blocks(title: str, lines: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks for a free-form alert (e.g. the status view's lag alert)."""
    body = "\n".join(_mrkdwn(line) for line in lines) or "(no details)"
    blocks = [
        _header(f":warning: {title}"),
        _section(body),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _mrkdwn(f"host {socket.gethostname()}")}],
        },
    ]
    return redact(" — ".join([title, *lines[:1]])), blocks


def notify_run(
    result: RunResult,
    settings: SlackSettings | None,
    *,
    resume_command: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
    retry_interval: RetryIntervalCalculator | None = None,
) -> bool:
    """Post ``result`` to Slack when it should be; True only if Slack accepted one message.

    Failures and cancellations always post; successes only with ``notify_on="all"``; no
    settings, no post.
    Never raises: any failure to post is logged as a warning and returns False, so the
    job's exit code is whatever it was.
    """
    if settings is None:
        return False
    if result.status not in ALWAYS_POSTED and settings.notify_on != "all":
        log.debug(
            "Slack: %s %s not posted (SLACK_NOTIFY=failures)", result.definition, result.status
        )
        return False
    handlers = retry_handlers(max_retries=max_retries, interval=retry_interval)
    what = f"the {result.status} run of {result.definition}"
    build = partial(build_blocks, result, resume_command=resume_command)
    return _deliver(settings, build, what=what, timeout_s=timeout_s, handlers=handlers)


def notify_alert(
    title: str,
    lines: list[str],
    settings: SlackSettings | None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
    retry_interval: RetryIntervalCalculator | None = None,
) -> bool:
    """Post a free-form alert (always, whatever ``notify_on``); True only if Slack accepted it.

    Never raises: a failure is logged as a warning and returns False.
    """
    if settings is None:
        return False
    handlers = retry_handlers(max_retries=max_retries, interval=retry_interval)
    build = partial(build_alert_blocks, title, lines)
    what = f"the alert {title!r}"
    return _deliver(settings, build, what=what, timeout_s=timeout_s, handlers=handlers)


def _deliver(
    settings: SlackSettings,
    build: Callable[[], tuple[str, list[dict[str, Any]]]],
    *,
    what: str,
    timeout_s: float,
    handlers: list[RetryHandler],
) -> bool:
    """Build the message, then post it; True only if Slack accepted it. Never raises: a bug
    in building it must not mask the run's result nor break an alert's caller, and Slack
    trouble is a warning, never the job's error."""
    try:
        text, blocks = build()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return _warn(what, exc)
    try:
        _post(settings, text, blocks, timeout_s=timeout_s, handlers=handlers)
    except Exception as exc:  # noqa: BLE001 - Slack trouble is a warning, never the job's error
        return _warn(what, exc)
    log.info("Slack: posted %s", what)
    return True


def _warn(what: str, exc: BaseException) -> bool:
    reason = " ".join(redact(f"{type(exc).__name__}: {exc}").split())
    log.warning("Slack notification for %s not sent: %s", what, _clip(reason, 500))
    log.debug("Slack notification failure details", exc_info=exc)
    return False


def _sdk_logger() -> logging.Logger:
    """A logger for slack_sdk that files its errors as DEBUG: our one warning says it all."""
    sdk_log = logging.getLogger(f"{__name__}.slack_sdk")
    if not sdk_log.filters:
        sdk_log.addFilter(_demote_to_debug)
    return sdk_log


def _demote_to_debug(record: logging.LogRecord) -> bool:
    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    # Emitted only when DEBUG is on (--verbose), like any other debug record.
    return logging.getLogger(__name__).isEnabledFor(logging.DEBUG)


def _post(
    settings: SlackSettings,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    timeout_s: float,
    handlers: list[RetryHandler],
) -> None:
    """Send one message; raises on any failure, including a non-200 webhook answer."""
    # Imported here: the clients cost ~30 ms, and most runs send nothing.
    from slack_sdk.web import WebClient
    from slack_sdk.webhook import WebhookClient

    timeout = max(1, math.ceil(timeout_s))  # slack_sdk takes whole seconds
    if settings.webhook_url:
        hook = WebhookClient(
            settings.webhook_url, timeout=timeout, retry_handlers=handlers, logger=_sdk_logger()
        )
        response = hook.send(text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
        if response.status_code != 200:
            body = _clip(str(response.body), 200)
            raise SlackDeliveryError(f"webhook answered HTTP {response.status_code}: {body}")
        return
    client = WebClient(
        token=settings.bot_token,
        base_url=settings.api_base_url,
        timeout=timeout,
        retry_handlers=handlers,
        logger=_sdk_logger(),
    )
    # chat_postMessage raises SlackApiError when Slack answers ok=false (invalid_auth, ...).
    client.chat_postMessage(
        channel=settings.channel or "", text=text, blocks=blocks, unfurl_links=False
    )


class SlackDeliveryError(Exception):
    """Slack did not accept the message; only ever logged, never raised out of this module."""
