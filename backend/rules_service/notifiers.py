"""Notifiers: where alert transitions go besides MQTT and storage — a generic webhook and a Telegram bot.

Each notifier has its own bounded queue and task, so a notifier outage never blocks rule evaluation or
the other notifiers: deliveries are retried with capped, jittered back-off for `give_up_after`, and when the
queue is full the oldest waiting transition is dropped and counted (an outage of days must not eat memory).

Webhook requests carry `X-Pantau-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` with
the shared secret, and `X-Pantau-Timestamp`, so a receiver can check origin and refuse replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import httpx

from backend.config.notifiers import NotifierConfig, TelegramConfig, WebhookConfig
from pantau.config import ConfigError
from pantau.contract import AlertTransition, encode
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 1.0
_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def _secret(env: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise ConfigError("notifiers", [f"environment variable {env} is not set"])
    return value


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


_STATE_WORDS: Final = {
    "id": {"pending": "MENUNGGU", "firing": "AKTIF", "resolved": "SELESAI"},
    "en": {"pending": "PENDING", "firing": "FIRING", "resolved": "RESOLVED"},
}
_SEVERITY_MARKS: Final = ("🟢", "🟡", "🟠", "🔴")


def telegram_text(transition: AlertTransition, language: Literal["id", "en", "both"]) -> str:
    """A short chat message: state, level, where, value against threshold, and the rule's own message."""
    where = "/".join(part for part in (transition.site, transition.device, transition.channel) if part)
    mark = _SEVERITY_MARKS[min(transition.severity, len(_SEVERITY_MARKS) - 1)]
    if transition.state == "resolved":
        mark = "✅"
    lines = []
    for lang in ("id", "en") if language == "both" else (language,):
        state = _STATE_WORDS[lang][transition.state]
        level = f" — {transition.level}" if transition.level else ""
        lines.append(f"{mark} {state}{level} · {where} · {transition.rule}")
    if transition.value is not None:
        unit = f" {transition.unit}" if transition.unit else ""
        threshold = (
            f" (ambang/threshold {transition.threshold:g}{unit})" if transition.threshold is not None else ""
        )
        lines.append(f"{transition.value:g}{unit}{threshold}")
    lines.append(transition.message)
    if transition.acknowledgement is not None:
        lines.append(
            f"✔ {transition.acknowledgement.by}: {transition.acknowledgement.note or ''}".rstrip(": ")
        )
    return "\n".join(lines)


class Delivery(Protocol):
    async def deliver(self, client: httpx.AsyncClient, transition: AlertTransition) -> None:
        """Send one transition; raise httpx.HTTPError (or RetryableStatus) to retry."""
        ...


class RetryableStatus(Exception):
    """The receiver answered with a status worth retrying (5xx, 429, 408)."""


class RejectedStatus(Exception):
    """The receiver refused the request for good (4xx): retrying would not help."""


@dataclass
class WebhookDelivery:
    config: WebhookConfig
    clock: Clock = SYSTEM_CLOCK

    async def deliver(self, client: httpx.AsyncClient, transition: AlertTransition) -> None:
        body = encode(transition)
        timestamp = str(int(self.clock.time()))
        headers = {"Content-Type": "application/json", "X-Pantau-Timestamp": timestamp}
        if self.config.secret_env:
            headers["X-Pantau-Signature"] = sign(_secret(self.config.secret_env), timestamp, body)
        _check(await client.post(self.config.url, content=body, headers=headers))


@dataclass
class TelegramDelivery:
    config: TelegramConfig

    async def deliver(self, client: httpx.AsyncClient, transition: AlertTransition) -> None:
        url = f"{self.config.api_url}/bot{_secret(self.config.token_env)}/sendMessage"
        text = telegram_text(transition, self.config.language)
        _check(await client.post(url, json={"chat_id": self.config.chat_id, "text": text}))


def _check(response: httpx.Response) -> None:
    if response.status_code in _RETRY_STATUSES:
        raise RetryableStatus(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise RejectedStatus(f"HTTP {response.status_code}: {response.text[:200]}")


@dataclass
class NotifierStats:
    sent_total: int = 0
    failed_total: int = 0
    dropped_total: int = 0
    attempts_total: int = 0


@dataclass(eq=False)
class Notifier:
    """One destination with its own queue and task."""

    name: str
    config: NotifierConfig
    delivery: Delivery
    clock: Clock = SYSTEM_CLOCK
    stats: NotifierStats = field(default_factory=NotifierStats)
    _queue: deque[AlertTransition] = field(default_factory=deque)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, transition: AlertTransition) -> None:
        """Queue a transition; never blocks. Drops the oldest when full (counted, logged once per burst)."""
        if transition.severity < self.config.min_severity and transition.state != "resolved":
            return
        if len(self._queue) >= self.config.queue_size:
            self._queue.popleft()
            self.stats.dropped_total += 1
            if self.stats.dropped_total == 1 or self.stats.dropped_total % 1000 == 0:
                logger.warning(
                    "notifier %s: queue full, %d dropped so far", self.name, self.stats.dropped_total
                )
        self._queue.append(transition)
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.config.timeout.total_seconds()) as client:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                await self._send(client, self._queue[0])
                if self._queue:
                    self._queue.popleft()

    async def _send(self, client: httpx.AsyncClient, transition: AlertTransition) -> None:
        deadline = self.clock.monotonic() + self.config.give_up_after.total_seconds()
        backoff = Backoff(base=BACKOFF_BASE_S, cap=self.config.retry_cap.total_seconds())
        while True:
            problem = await self._attempt(client, transition)
            if problem is None:
                if backoff.attempts:
                    logger.info(
                        "notifier %s: delivering again after %d failed attempts", self.name, backoff.attempts
                    )
                self.stats.sent_total += 1
                return
            if isinstance(problem, RejectedStatus | ConfigError):
                logger.error("notifier %s refused %s: %s", self.name, transition.alert_id, problem)
                self.stats.failed_total += 1
                return
            pause = backoff.next_delay()
            if backoff.attempts == 1:
                logger.warning("notifier %s: delivery failing, retrying: %s", self.name, problem)
            if self.clock.monotonic() + pause > deadline:
                logger.error(
                    "notifier %s: gave up on %s after %d attempts",
                    self.name,
                    transition.alert_id,
                    backoff.attempts,
                )
                self.stats.failed_total += 1
                return
            await self.clock.sleep(pause)

    async def _attempt(self, client: httpx.AsyncClient, transition: AlertTransition) -> Exception | None:
        self.stats.attempts_total += 1
        try:
            await self.delivery.deliver(client, transition)
        except (httpx.HTTPError, RetryableStatus, RejectedStatus, ConfigError) as exc:
            return exc
        return None


def build_notifier(name: str, config: NotifierConfig, clock: Clock = SYSTEM_CLOCK) -> Notifier:
    """A notifier; ConfigError now (at start) when the secret it needs is not in the environment."""
    secret_env = config.secret_env if isinstance(config, WebhookConfig) else config.token_env
    if secret_env is not None:
        _secret(secret_env)
    delivery: Delivery = (
        WebhookDelivery(config, clock) if isinstance(config, WebhookConfig) else TelegramDelivery(config)
    )
    return Notifier(name, config, delivery, clock)
