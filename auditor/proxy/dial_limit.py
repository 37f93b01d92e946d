"""How many unauthenticated dials each node's sshd admits, and a queue for the rest.

sshd counts a connection as a *startup* from its accept until the client's
authentication completes, and past ``MaxStartups`` (default ``10:30:100``)
drops new ones at random (30 % at 10, all at 100). Retrying drops (see
``upstream.connect_with_retries``) rides out a storm somebody else caused; a
proxy that is itself making hundreds of dials to one node must not cause it.
So each node (its address and port) has a limit on the dials the proxy has
in flight to it, from TCP connect to the end of SSH authentication, and the
dials past the limit wait in FIFO order.

The limit starts under what sshd admits (7 of the default 10: room for the
users who log in to the node directly, and for sshd's own lag: its listener
hears that a login is authenticated a moment after the client does) and
adapts like TCP's window (AIMD): a ``MaxStartups`` drop halves it (once per
round: the drops of dials that started before the last cut do not cut it
again), and a run of ``limit`` handshakes without a drop raises it by one, up
to two under the node's ``MaxStartups``. ``nodes: {NAME: {max_startups: N}}``
tells the proxy what an operator set in that node's sshd_config.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("auditor.proxy")

SSHD_MAX_STARTUPS = 10  # sshd's default start of random early drop
HEADROOM = 2  # startups left to others and to sshd's lag in counting a login done
LONG_WAIT = 1.0  # a dial that waited this long in the queue is reported


def start_limit(max_startups: int) -> int:
    return max(1, max_startups - HEADROOM - 1)


def ceiling(max_startups: int) -> int:
    return max(1, max_startups - HEADROOM)


class QueueTimeout(Exception):
    """A dial waited in the queue until its deadline."""

    def __init__(self, waited: float, node: NodeDials) -> None:
        super().__init__(
            f"waited {waited:.1f}s in the proxy's queue of dials to {node.key} "
            f"({node.in_flight} in flight, limit {node.limit}, {len(node.waiters)} queued)"
        )
        self.waited = waited


@dataclass
class Report:
    """What the limiter did for one node since its last report."""

    key: str
    name: str
    limit: int
    max_startups: int
    dials: int = 0
    queued: int = 0
    longest_wait: float = 0.0
    long_waits: int = 0
    drops: int = 0
    cuts: int = 0
    timeouts: int = 0

    @property
    def noteworthy(self) -> bool:
        # Any wait: outside a burst nothing queues, so a row means one came.
        return bool(self.queued or self.drops or self.timeouts)

    def message(self) -> str:
        parts = [f"{self.queued} of {self.dials} dials to {self.name} waited in the proxy's queue"]
        parts.append(f"longest {self.longest_wait:.1f}s")
        if self.long_waits:
            parts.append(f"{self.long_waits} over {LONG_WAIT:g}s")
        if self.timeouts:
            parts.append(f"{self.timeouts} gave up waiting")
        if self.drops:
            parts.append(f"{self.drops} MaxStartups drops, limit cut {self.cuts} times")
        return (
            f"{', '.join(parts)}; now at most {self.limit} unauthenticated dials in flight "
            f"(node's MaxStartups taken as {self.max_startups})"
        )


@dataclass
class NodeDials:
    key: str
    name: str
    max_startups: int
    limit: int
    in_flight: int = 0
    waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)
    round: int = 0  # bumped at each cut: drops of older dials do not cut again
    moved: float = field(default_factory=time.monotonic)  # when a dial last left the node
    clean: int = 0  # handshakes since the last cut or raise
    report: Report | None = None

    def stats(self) -> Report:
        if self.report is None:
            self.report = Report(self.key, self.name, self.limit, self.max_startups)
        self.report.limit = self.limit
        return self.report

    def wake(self) -> None:
        while self.waiters and self.in_flight < self.limit:
            fut = self.waiters.popleft()
            if not fut.done():
                self.in_flight += 1  # the place is the waiter's from now on
                fut.set_result(None)


class Permit:
    """One dial's place among a node's dials in flight; ``release`` once."""

    def __init__(self, node: NodeDials, waited: float, limiter: DialLimiter) -> None:
        self.node = node
        self.waited = waited
        self.round = node.round
        self._limiter = limiter
        self._held = True

    def dropped(self, maxstartups: bool) -> None:
        """The node's sshd dropped this dial (it is retried, holding its place)."""
        if not maxstartups:
            return
        node = self.node
        node.stats().drops += 1
        if self.round != node.round:
            return  # started before the last cut: that cut already answered this burst
        old = node.limit
        node.limit = max(1, node.limit // 2)
        node.round += 1
        node.clean = 0
        self.round = node.round
        node.stats().cuts += 1
        log.info("dials to %s: MaxStartups drop, limit %d -> %d", node.name, old, node.limit)
        self._limiter.changed(node, old, "maxstartups drop")

    def release(self, handshake_done: bool) -> None:
        """The dial authenticated (sshd counts it no longer) or failed."""
        if not self._held:
            return
        self._held = False
        node = self.node
        node.in_flight -= 1
        node.moved = time.monotonic()
        if handshake_done:
            node.clean += 1
            top = ceiling(node.max_startups)
            if node.clean >= node.limit and node.limit < top:
                old = node.limit
                node.limit += 1
                node.clean = 0
                self._limiter.changed(node, old, f"{old} handshakes without a drop")
        node.wake()


class DialLimiter:
    """The per-node limits of one proxy; ``on_change(node, old, why)`` hears of each change."""

    def __init__(
        self,
        default_max_startups: int = SSHD_MAX_STARTUPS,
        on_change: Callable[[NodeDials, int, str], None] | None = None,
    ) -> None:
        self.default_max_startups = default_max_startups
        self.nodes: dict[str, NodeDials] = {}
        self.on_change = on_change

    def node(self, key: str, name: str, max_startups: int | None) -> NodeDials:
        declared = max_startups or self.default_max_startups
        node = self.nodes.get(key)
        if node is None:
            node = NodeDials(key, name, declared, start_limit(declared))
            self.nodes[key] = node
        elif node.max_startups != declared:  # the config was reloaded with another value
            old = node.limit
            node.max_startups = declared
            node.limit = start_limit(declared)
            node.clean = 0
            self.changed(node, old, f"max_startups set to {declared}")
            node.wake()
        return node

    def changed(self, node: NodeDials, old: int, why: str) -> None:
        if self.on_change is not None and old != node.limit:
            self.on_change(node, old, why)

    async def acquire(
        self, key: str, name: str, max_startups: int | None, timeout: float
    ) -> Permit:
        """A place among the node's dials in flight, waited for while the queue
        moves: it gives up when no dial to the node has finished for ``timeout``
        (the node is stuck), not after ``timeout`` of its own wait, so a burst of
        hundreds is served in turn however long the turn takes."""
        node = self.node(key, name, max_startups)
        node.stats().dials += 1
        if node.in_flight < node.limit and not node.waiters:
            node.in_flight += 1
            return Permit(node, 0.0, self)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        node.waiters.append(fut)
        node.stats().queued += 1
        started = time.monotonic()
        try:
            while True:
                still = timeout - (time.monotonic() - max(node.moved, started))
                try:
                    await asyncio.wait_for(asyncio.shield(fut), max(still, 0.0))
                    break
                except TimeoutError:
                    if time.monotonic() - max(node.moved, started) < timeout:
                        continue  # the queue moved meanwhile: keep the place in it
                    self._leave(node, fut)
                    waited = time.monotonic() - started
                    stats = node.stats()
                    stats.timeouts += 1
                    stats.longest_wait = max(stats.longest_wait, waited)
                    raise QueueTimeout(waited, node) from None
        except asyncio.CancelledError:  # the client left while it waited
            self._leave(node, fut)
            raise
        waited = time.monotonic() - started
        stats = node.stats()
        stats.longest_wait = max(stats.longest_wait, waited)
        if waited >= LONG_WAIT:
            stats.long_waits += 1
        return Permit(node, waited, self)

    @staticmethod
    def _leave(node: NodeDials, fut: asyncio.Future[None]) -> None:
        """A waiter gone from the queue, not left in it: a newcomer must not
        queue behind it while places are free."""
        if fut.done() and not fut.cancelled():
            node.in_flight -= 1  # handed a place at the last moment: give it back
        fut.cancel()
        if fut in node.waiters:  # else wake() took it off already
            node.waiters.remove(fut)
        node.wake()

    def take_reports(self) -> list[Report]:
        """What happened since the last call, per node where something worth telling did."""
        out = []
        for node in self.nodes.values():
            if node.report is not None and node.report.noteworthy:
                node.report.limit = node.limit
                out.append(node.report)
                node.report = None
            elif node.report is not None and not node.waiters and not node.in_flight:
                node.report = None  # quiet: nothing to tell, start afresh
        return out
