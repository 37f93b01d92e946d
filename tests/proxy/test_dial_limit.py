"""The per-node dial limiter: FIFO queue, AIMD on MaxStartups drops, deadlines, config."""

from __future__ import annotations

import asyncio

import pytest

from auditor.config import ConfigError, parse_config
from auditor.proxy.dial_limit import DialLimiter, NodeDials, QueueTimeout

KEY = "127.0.0.1:22"


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_dials_past_the_limit_wait_in_order_and_get_in_as_places_free() -> None:
    async def main() -> None:
        dials = DialLimiter()
        held = [await dials.acquire(KEY, "db", None, 1.0) for _ in range(7)]  # 7 of sshd's 10
        node = dials.nodes[KEY]
        assert node.in_flight == 7 and node.limit == 7
        order: list[int] = []

        async def queued(i: int) -> None:
            permit = await dials.acquire(KEY, "db", None, 5.0)
            order.append(i)
            assert permit.waited > 0
            permit.release(True)

        tasks = [asyncio.create_task(queued(i)) for i in range(5)]
        await asyncio.sleep(0.05)
        assert order == [] and len(node.waiters) == 5
        held[0].release(True)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]  # first come, first served
        assert node.in_flight == 6
        held[0].release(True)  # a second release changes nothing
        assert node.in_flight == 6

    run(main())


def test_a_maxstartups_drop_halves_the_limit_once_per_round_and_clean_handshakes_raise_it() -> None:
    changes: list[tuple[int, int, str]] = []

    def heard(node: NodeDials, old: int, why: str) -> None:
        changes.append((old, node.limit, why))

    async def main() -> None:
        dials = DialLimiter(on_change=heard)
        permits = [await dials.acquire(KEY, "db", None, 1.0) for _ in range(7)]
        node = dials.nodes[KEY]
        permits[0].dropped(False)  # EOF or a reset: not sshd's MaxStartups
        assert node.limit == 7
        for p in permits[:4]:  # a burst dropped together: one cut
            p.dropped(True)
        assert node.limit == 3
        permits[0].dropped(True)  # the same dial dropped again after the cut: cut again
        assert node.limit == 1
        for p in permits:
            p.release(True)
        # Clean handshakes raised it: 1 -> 2 -> 3 -> 4 (the releases above).
        assert node.limit == 4
        while node.limit < 8:
            p = await dials.acquire(KEY, "db", None, 1.0)
            p.release(True)
        for _ in range(50):
            p = await dials.acquire(KEY, "db", None, 1.0)
            p.release(True)
        assert node.limit == 8  # the ceiling: two under sshd's 10
        report = dials.take_reports()[0]
        assert report.drops == 5 and report.cuts == 2
        assert "MaxStartups drops" in report.message()
        assert dials.take_reports() == []  # told once

    run(main())
    assert changes[0] == (7, 3, "maxstartups drop")
    assert changes[1] == (3, 1, "maxstartups drop")
    assert all(new == old + 1 for old, new, _ in changes[2:])


def test_a_dial_that_waits_past_its_deadline_fails_and_leaves_the_queue() -> None:
    async def main() -> None:
        dials = DialLimiter()
        held = [await dials.acquire(KEY, "db", None, 1.0) for _ in range(7)]
        with pytest.raises(QueueTimeout) as caught:
            await dials.acquire(KEY, "db", None, 0.2)
        assert caught.value.waited >= 0.2
        assert "waited 0.2s in the proxy's queue of dials to 127.0.0.1:22" in str(caught.value)
        # A cancelled waiter (the client left) leaves no place taken behind it.
        task = asyncio.create_task(dials.acquire(KEY, "db", None, 5.0))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for p in held:
            p.release(False)
        node = dials.nodes[KEY]
        assert node.in_flight == 0
        [report] = dials.take_reports()
        assert report.timeouts == 1 and "1 gave up waiting" in report.message()

    run(main())


def test_nodes_max_startups_sets_the_limit_and_other_nodes_are_apart() -> None:
    async def main() -> None:
        dials = DialLimiter()
        big = [await dials.acquire("10.0.0.7:22", "db", 50, 0.1) for _ in range(47)]
        with pytest.raises(QueueTimeout):
            await dials.acquire("10.0.0.7:22", "db", 50, 0.05)
        other = [await dials.acquire(KEY, "web", None, 0.1) for _ in range(7)]
        assert len(big) == 47 and len(other) == 7
        # A reload that lowers it: new dials wait until the node is under it.
        with pytest.raises(QueueTimeout):
            await dials.acquire("10.0.0.7:22", "db", 20, 0.05)
        assert dials.nodes["10.0.0.7:22"].limit == 17

    run(main())


def test_config_reads_max_startups_and_refuses_a_bad_one_in_one_line() -> None:
    cfg = parse_config({"nodes": {"db": {"addr": "10.0.0.7", "max_startups": 50}, "web": {}}})
    assert cfg.nodes["db"].max_startups == 50 and cfg.nodes["web"].max_startups is None
    for bad in (0, "lots", 1.5, True):
        with pytest.raises(ConfigError) as caught:
            parse_config({"nodes": {"db": {"max_startups": bad}}})
        message = str(caught.value)
        assert "nodes.db.max_startups" in message and "\n" not in message


def test_a_newcomer_does_not_queue_behind_a_waiter_that_left() -> None:
    async def main() -> None:
        dials = DialLimiter()
        held = [await dials.acquire(KEY, "db", None, 1.0) for _ in range(7)]
        with pytest.raises(QueueTimeout):
            await dials.acquire(KEY, "db", None, 0.05)
        node = dials.nodes[KEY]
        assert not node.waiters
        held[0].release(True)
        permit = await dials.acquire(KEY, "db", None, 0.05)  # a free place: in at once
        assert permit.waited == 0.0

    run(main())
