"""Notifiers against a recording HTTP server on loopback (a webhook receiver and a Telegram API stand-in)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from backend.rules_service.notifiers import (
    Notifier,
    TelegramConfig,
    WebhookConfig,
    build_notifier,
    telegram_text,
)
from pantau.contract import Acknowledgement, AlertTransition, decode
from tests.harness.recording_http import RecordingServer, Reply, Request

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def transition(seq: int = 1, state: str = "firing", severity: int = 2) -> AlertTransition:
    return AlertTransition(
        site="ampal-mufakat", source="backend-1", seq=seq, ts=T0 + timedelta(minutes=seq),
        alert_id="flood-level:ampal-mufakat:wl-radar-1:level", rule="flood-level", device="wl-radar-1",
        channel="level", state=state, level="Siaga II", severity=severity, value=2.35, threshold=2.2,
        unit="m", message="Sungai Ampal di Mufakat SIAGA II: 2.35 m", started_at=T0,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


@pytest.mark.services  # a receiver (RecordingServer) on loopback
async def test_webhook_posts_the_transition_signed_with_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    async with RecordingServer(lambda _r: Reply(200)) as receiver:
        config = WebhookConfig(url=f"{receiver.url}/hook", secret_env="HOOK_SECRET")
        async with running(build_notifier("ops", config)) as notifier:
            notifier.offer(transition())
            await until(lambda: notifier.stats.sent_total == 1)
    (request,) = receiver.requests
    assert decode(request.body) == transition()
    stamp = request.headers["x-pantau-timestamp"]
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-pantau-signature"] == f"sha256={expected}"


@pytest.mark.services  # a receiver (RecordingServer) on loopback
async def test_webhook_retries_server_errors_and_keeps_order() -> None:
    answers = iter([503, 429, 200, 200])

    def script(_request: Request) -> Reply:
        return Reply(next(answers))

    async with RecordingServer(script) as receiver:
        config = WebhookConfig(url=receiver.url, retry_cap="50ms")
        async with running(build_notifier("ops", config)) as notifier:
            notifier.offer(transition(1))
            notifier.offer(transition(2))
            await until(lambda: notifier.stats.sent_total == 2)
    assert [decode(r.body).seq for r in receiver.requests] == [1, 1, 1, 2]  # type: ignore[union-attr]
    assert notifier.stats.attempts_total == 4


@pytest.mark.services  # a receiver (RecordingServer) on loopback
async def test_a_refusing_receiver_is_not_retried_and_does_not_block_the_next() -> None:
    answers = iter([400, 200])
    async with (
        RecordingServer(lambda _r: Reply(next(answers))) as receiver,
        running(build_notifier("ops", WebhookConfig(url=receiver.url))) as notifier,
    ):
        notifier.offer(transition(1))
        notifier.offer(transition(2))
        await until(lambda: notifier.stats.sent_total == 1)
    assert notifier.stats.failed_total == 1
    assert len(receiver.requests) == 2


@pytest.mark.services  # a receiver (RecordingServer) on loopback
async def test_an_unreachable_receiver_is_given_up_after_the_configured_time() -> None:
    async with RecordingServer(lambda _r: Reply(200)) as receiver:
        url = receiver.url  # closed when the block ends: nothing listens there any more
    config = WebhookConfig(url=url, give_up_after="300ms", retry_cap="50ms", timeout="200ms")
    async with running(build_notifier("ops", config)) as notifier:
        notifier.offer(transition())
        await until(lambda: notifier.stats.failed_total == 1)
    assert notifier.stats.sent_total == 0
    assert notifier.stats.attempts_total >= 2


def test_offer_never_blocks_and_drops_the_oldest_when_full() -> None:
    notifier = build_notifier("ops", WebhookConfig(url="http://127.0.0.1:9/", queue_size=3))
    for seq in range(5):
        notifier.offer(transition(seq))
    assert notifier.waiting == 3
    assert notifier.stats.dropped_total == 2


def test_transitions_below_the_minimum_severity_are_skipped_but_their_resolution_is_sent() -> None:
    notifier = build_notifier("ops", WebhookConfig(url="http://127.0.0.1:9/", min_severity=3))
    notifier.offer(transition(1, severity=2))
    notifier.offer(transition(2, state="resolved", severity=0))
    assert notifier.waiting == 1


@pytest.mark.services  # a fake Telegram API (RecordingServer) on loopback
async def test_telegram_sends_a_bilingual_message_to_the_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    async with RecordingServer(lambda _r: Reply(200, body=b'{"ok":true}')) as api:
        config = TelegramConfig(token_env="BOT_TOKEN", chat_id="-1001234", api_url=api.url)
        async with running(build_notifier("tg", config)) as notifier:
            notifier.offer(transition())
            await until(lambda: notifier.stats.sent_total == 1)
    (request,) = api.requests
    assert request.path == "/bot123:abc/sendMessage"
    body = json.loads(request.body)
    assert body["chat_id"] == "-1001234"
    assert body["text"].splitlines() == [
        "🟠 AKTIF — Siaga II · ampal-mufakat/wl-radar-1/level · flood-level",
        "🟠 FIRING — Siaga II · ampal-mufakat/wl-radar-1/level · flood-level",
        "2.35 m (ambang/threshold 2.2 m)",
        "Sungai Ampal di Mufakat SIAGA II: 2.35 m",
    ]


def test_telegram_text_of_a_resolution_and_an_acknowledgement() -> None:
    done = transition(3, state="resolved", severity=0).model_copy(
        update={"acknowledgement": Acknowledgement(by="operator-wita", at=T0, note="petugas di lokasi")}
    )
    assert telegram_text(done, "id").splitlines()[0].startswith("✅ SELESAI")
    assert telegram_text(done, "en").splitlines()[-1] == "✔ operator-wita: petugas di lokasi"
