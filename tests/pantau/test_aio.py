"""The cancellation guards of pantau.aio on Python 3.11's own behaviour: what a TaskGroup leaves behind."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pantau.aio import cancellations_requested, raise_cancellation_requested_since


async def fail_soon() -> None:
    await asyncio.sleep(0)
    raise ValueError("a child fails")


async def run_a_failing_task_group() -> None:
    with pytest.raises(ExceptionGroup):
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(fail_soon())


async def test_a_request_from_before_is_not_a_stop_asked_for_since() -> None:
    before = cancellations_requested()
    await run_a_failing_task_group()
    if sys.version_info < (3, 12):  # the TaskGroup cancelled this task and never took it back
        assert cancellations_requested() == before + 1
    left = cancellations_requested()
    raise_cancellation_requested_since(left)  # nothing asked for since: the task carries on
    await asyncio.sleep(0)


async def test_a_stop_asked_for_since_is_raised_although_the_wait_swallowed_it() -> None:
    task = asyncio.current_task()
    assert task is not None
    before = cancellations_requested()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(0)  # caught: the request stays counted, as after a wait_for that swallowed it
    with pytest.raises(asyncio.CancelledError):
        raise_cancellation_requested_since(before)
    task.uncancel()  # the test goes on
