"""The queue's priorities (issue 20): interactive sentences are handed out first, bulk ones only within their share
of the rows, and a bulk sentence still starts when no bulk work runs (so bulk never starves either)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from nmt_core.search import SearchOptions
from service.engine.queue import Budget, WorkItem, WorkQueue
from service.engine.scheduler import Scheduler
from service.validation import Priority

MODEL: Any = SimpleNamespace(model_id="m")


def items(count: int, priority: Priority, request_id: int, beam: int = 4) -> list[WorkItem]:
    loop = asyncio.new_event_loop()
    return [
        WorkItem(
            MODEL,
            [1, 5, 2],
            SearchOptions(beam_size=beam),
            32,
            request_id,
            1e12,
            loop.create_future(),
            loop,
            priority=priority,
        )
        for _ in range(count)
    ]


def test_interactive_work_is_handed_out_before_older_bulk_work() -> None:
    queue = WorkQueue(100)
    bulk, interactive = items(10, "bulk", 1), items(3, "interactive", 2)
    queue.put(bulk)
    queue.put(interactive)
    taken = queue.take_batch("m", Budget(max_rows=64, max_tokens=10_000, bulk_rows=8, bulk_idle=False))
    assert taken[:3] == interactive
    assert taken[3:] == bulk[:2]  # 8 bulk rows at beam 4
    assert queue.waiting_count("m", "bulk") == 8 and queue.waiting_count("m", "interactive") == 0


def test_bulk_gets_no_rows_beyond_its_share_but_always_one_sentence_when_none_runs() -> None:
    queue = WorkQueue(100)
    bulk = items(5, "bulk", 1, beam=6)
    queue.put(bulk)
    assert queue.take_batch("m", Budget(64, 10_000, bulk_rows=0, bulk_idle=False)) == []
    assert queue.take_batch("m", Budget(64, 10_000, bulk_rows=2, bulk_idle=True)) == bulk[:1]
    assert queue.take_batch("m", Budget(64, 10_000, bulk_rows=12, bulk_idle=False)) == bulk[1:3]


def test_dropping_abandoned_items_keeps_the_counts_per_priority() -> None:
    queue = WorkQueue(100)
    mixed = items(4, "bulk", 1) + items(4, "interactive", 2)
    queue.put(mixed)
    for item in mixed[::2]:
        item.abandoned = True
    queue.note_abandoned()
    assert queue.take_abandoned() and not queue.take_abandoned()
    assert len(queue.drop(lambda i: i.abandoned)) == 4
    assert (queue.waiting_count("m", "bulk"), queue.waiting_count("m", "interactive"), len(queue)) == (2, 2, 4)


def test_bulk_work_leaves_a_quarter_of_the_queue_to_interactive_requests() -> None:
    queue = WorkQueue(8)
    queue.put(items(5, "bulk", 1))
    try:
        queue.put(items(2, "bulk", 2))  # 7 > 6 (three quarters of 8)
        raise AssertionError("bulk work filled the interactive reserve")
    except Exception as exc:
        assert type(exc).__name__ == "Overloaded"
    queue.put(items(3, "interactive", 3))  # the reserve is there
    assert len(queue) == 8


def test_a_bulk_sentence_someone_now_waits_for_moves_to_the_interactive_lane() -> None:
    queue = WorkQueue(100)
    bulk = items(3, "bulk", 1)
    queue.put(bulk)
    queue.promote(bulk[2])
    assert bulk[2].priority == "interactive"
    assert (queue.waiting_count("m", "interactive"), queue.waiting_count("m", "bulk")) == (1, 2)
    taken = queue.take_batch("m", Budget(64, 10_000, bulk_rows=0, bulk_idle=False))
    assert taken == [bulk[2]]


def test_bulk_does_not_take_rows_an_interactive_sentence_is_waiting_for() -> None:
    queue = WorkQueue(100)
    queue.put(items(1, "interactive", 1, beam=8))
    queue.put(items(2, "bulk", 2, beam=2))
    # 8 rows free would fit the bulk sentences but not the interactive one: nobody takes them this round
    assert queue.take_batch("m", Budget(max_rows=12, max_tokens=10_000, used_rows=6, bulk_rows=8)) == []


def test_bulk_holds_the_smaller_share_while_interactive_work_waits_and_the_larger_alone() -> None:
    queue = WorkQueue(max_items=100)
    scheduler = Scheduler(queue, max_rows=64, bulk_row_share=1 / 16, bulk_alone_row_share=1 / 2)
    queue.put(items(20, "bulk", request_id=1))  # 4 rows each
    alone, _ = scheduler._admit("m", None)  # handed out, not yet running (the decoder would count them)
    assert len(alone) == 8  # 32 rows: half of 64, nothing interactive anywhere
    queue.put(items(1, "interactive", request_id=2))
    beside, _ = scheduler._admit("m", None)
    assert [item.priority for item in beside] == ["interactive", "bulk"]  # 4 bulk rows: 1/16 of 64
    assert len(queue) == 11
