"""The recording proxy as one component: ``await proxy.start()`` ... ``await proxy.stop()``.

``auditor proxy`` runs it alone; the TUI runs it in its own event loop. No
globals: what a connection reads of it is handed down as a
``ConnectionContext`` (connection_context.py), made anew at each reload.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import resource
import socket
import time
from concurrent.futures import Future
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import asyncssh

from auditor.access_policy import AccessPolicy
from auditor.audit_log import AuditLog
from auditor.authority.audit_key import init_audit_key
from auditor.authority.ca import ensure_authorities, load_authority, mint_host_certificate
from auditor.authority.ssh_config import proxy_alias
from auditor.config import RESTART_KEYS, Config, ConfigError, HostPort, load_config
from auditor.datadir import ensure_private_dir
from auditor.errors import AuditorError
from auditor.index import FailureKind, SessionIndex
from auditor.proxy.admission import Admission, Arriving
from auditor.proxy.connection_context import ConnectionContext, HostKey
from auditor.proxy.dial_limit import DialLimiter, NodeDials
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.index_writer import IndexWriter
from auditor.proxy.live import LIVE_FLUSH_INTERVAL, LivePublisher
from auditor.proxy.one_hop import is_one_hop, serve_one_hop
from auditor.proxy.outer import OuterServer
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.recorder import FLUSH_INTERVAL, ChannelRecording
from auditor.proxy.terminations import TerminationWatch
from auditor.proxy.uploads import open_uploads
from auditor.proxy.upstream import DEFAULT_BACKOFF, Backoff
from auditor.recording import RecordingWriter
from auditor.recording.format import index_path
from auditor.recording.sync import RecordingSyncer
from auditor.recording.writer import FLUSH_INTERVAL as WRITER_FLUSH_INTERVAL
from auditor.storage import StorageError
from auditor.upkeep.recovery import recover_interrupted
from auditor.upkeep.retention import apply_daily
from auditor.upkeep.worker_process import TextProcess

log = logging.getLogger("auditor.proxy")
NODE_CERT_TTL = 2 * 3600
NODE_CERT_RENEW = 15 * 60
STATE_FILE = "proxy.json"
LIVE_TICK = 0.1  # the flush timer of sessions followed from elsewhere (FLUSH_INTERVAL alone)
SWEEP_INTERVAL = 5.0  # lease renewed, other proxies' orphans looked for
LIVE_KEPT = 60.0  # an ended session's published output stays this long for followers


class IndexAway(AuditorError):
    """The index can't take a new session's row: the session is refused."""


class RecordingProxy:
    def __init__(
        self, config: Config, data_dir: Path, *, backoff: Backoff = DEFAULT_BACKOFF
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.backoff = backoff
        self.recordings: set[ChannelRecording] = set()
        # Connections logging in (capped) and logged in, whatever config they arrived under.
        self.admission = Admission()
        self._node_keys: dict[str, tuple[asyncssh.SSHKey, asyncssh.SSHCertificate, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self.address: tuple[str, int] | None = None
        self.stats = {"sessions": 0, "failures": 0}
        # Dials in flight to each node kept under its sshd's MaxStartups (dial_limit.py).
        self.dials = DialLimiter(on_change=self._dial_limit_changed)

    # Lifecycle
    async def start(self) -> None:
        ensure_private_dir(self.data_dir)
        ensure_authorities(self.data_dir)
        self.user_ca = load_authority(self.data_dir, "user")
        self.host_ca = load_authority(self.data_dir, "host")
        # Signs every sealed recording's anchor; a data dir from before audit keys gets one.
        self.audit_key, made = init_audit_key(self.data_dir)
        if made:
            log.warning(
                "created an audit signing key (%s): other proxies of this fleet need the "
                "same one (`auditor ca export --private`, `auditor ca import`)",
                self.audit_key.get_fingerprint(),
            )
        # asyncssh compares keys including their private half: trust the public one.
        self.host_ca_public = self.host_ca.convert_to_public()
        listen = self.config.listen_addr
        names = [*self.config.public_addr, proxy_alias(self.config), listen.host, "localhost"]
        issued = mint_host_certificate(self.host_ca, list(dict.fromkeys(names)), 365 * 86400)
        self.host_key = (issued.key, issued.cert)
        # A bucket that is missing or away is one line now, not a failure per session later.
        self.uploads = await asyncio.to_thread(open_uploads, self.config, self.data_dir)
        uri = self.config.storage.audit_events_uri
        self.index = await asyncio.to_thread(IndexWriter, self.data_dir, uri)
        self.terminations = TerminationWatch(self.index, self.recordings)
        await asyncio.wrap_future(self.index.renew_lease(str(self.config.listen_addr)))
        recovered = await self.index.acall(recover_interrupted)
        if recovered:
            log.info("marked %s sessions of a previous run interrupted", recovered)
        # Followers on other machines (a shared index) get each flush, soon.
        self.live: LivePublisher | None = None
        if self.index.index.shares_live:
            self.live = LivePublisher(self.index.index.reopen)
            self.live.start()
        self.flush_interval = FLUSH_INTERVAL if self.live is None else LIVE_TICK
        self._next_sweep = 0.0
        # Bind first: a taken port must leave nothing running behind it.
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((listen.host, listen.port))
        except OSError as exc:
            sock.close()
            await asyncio.to_thread(self.index.close)
            raise AuditorError(f"cannot listen on {listen}: {exc.strerror}") from None
        self.audit = AuditLog(self.data_dir / "audit.log")
        _raise_fd_limit()
        self.record_thread = RecordingThread()
        self.syncer = RecordingSyncer(self.config.recording_sync)
        self.text = TextProcess(self.data_dir, uri)
        self.text.start()
        self.context = self._context()
        # A burst of a thousand clients connects at once: the kernel caps this at somaxconn.
        sock.listen(4096)
        sock.setblocking(False)
        self._listener = sock
        host, port = sock.getsockname()[:2]
        self.address = (host, port)
        loop = asyncio.get_running_loop()
        self._accept_task = loop.create_task(self._accept_loop())
        self._flush_task = loop.create_task(self._flush_loop())
        # At start, then daily, with the retention of the config in force then (a
        # reload may set one); stop() cancels it with the rest.
        pruning = loop.create_task(apply_daily(lambda: self.config, self.data_dir, self.audit))
        self._tasks.add(pruning)
        pruning.add_done_callback(self._tasks.discard)
        self._write_state()
        log.info(
            "auditor proxy listening on %s:%s, recording %s",
            host,
            port,
            self.config.session_recording,
        )
        if not ipaddress.ip_address(host).is_loopback:
            # Never silently: a listener other machines can reach is a choice to see.
            where = HostPort(host, port)
            log.warning("listening on %s, reachable from other machines", where)
            self.audit.write("listening", address=str(where), reachable="from other machines")

    async def stop(self) -> None:
        for task in (self._accept_task, self._flush_task):
            if task:
                task.cancel()
        if self._listener:
            self._listener.close()
        for conn in list(self.admission.connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0.05)
        for rec in list(self.recordings):
            rec.finish(None)
        # Recordings sealed and their rows queued before the index closes.
        await asyncio.to_thread(self.record_thread.close)
        await asyncio.to_thread(self.syncer.close)  # the seals on the disk, the rows ended
        if self.live is not None:
            await asyncio.to_thread(self.live.stop)  # the last flushes published, rows ended
        if self.uploads is not None:
            await self.uploads.drain(self.index)
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self._report_dials()  # what the dial queues did since the last sweep
        self.audit.close()
        # The rows queued above written (with the seals' syncs, ending 300 sessions
        # takes a moment) before the text child is told to make its last pass.
        await asyncio.wrap_future(self.index.submit(lambda: None))
        await asyncio.to_thread(self.text.stop)
        await asyncio.to_thread(self.index.close)
        log.info("auditor proxy stopped")

    async def __aenter__(self) -> RecordingProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _write_state(self) -> None:
        assert self.address is not None
        state = {
            "pid": os.getpid(),
            "listen": f"{self.address[0]}:{self.address[1]}",
            "session_recording": self.config.session_recording,
            "started": time.time(),
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state))

    # Accepting, with sshd-like self-protection
    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            client, _ = await loop.sock_accept(self._listener)
            clients = [client]
            # A burst: take every connection waiting now in this turn of the loop,
            # not one a turn (a turn is long while hundreds of handshakes run).
            while len(clients) < 256:
                try:
                    more, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # out of descriptors, or a client gone already
                    log.warning("accepting a connection: %s", exc)
                    break
                clients.append(more)
            for client in clients:
                client.setblocking(False)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(self._serve(client))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, client: socket.socket) -> None:
        context = self.context  # the config in force as it arrives, for its whole life
        # Counted against the cap from the first moment: a flood of silent
        # connections must not crowd out a client that is logging in.
        arriving = Arriving()
        self.admission.add(arriving, context.config.max_unauthenticated)
        try:
            one_hop = await is_one_hop(client)  # `auditor connect`'s preamble, not SSH
        except asyncio.CancelledError:
            client.close()  # evicted while silent
            raise
        if one_hop:
            arriving.heard = True
            await serve_one_hop(context, client, arriving)
            return
        server = OuterServer(context)
        options = context.server_options(lambda: server, self.host_key, keepalive_interval=60)
        await context.serve_ssh(client, server, options, arriving)

    # What connections read, and a reload of it
    def _context(self) -> ConnectionContext:
        return ConnectionContext(
            config=self.config,
            access=AccessPolicy(self.config),
            user_ca=self.user_ca,
            host_ca_public=self.host_ca_public,
            backoff=self.backoff,
            index=self.index,
            audit=self.audit,
            dials=self.dials,
            admission=self.admission,
            record_failure=self.record_failure,
            new_recording=self.new_recording,
            node_host_key=self.node_host_key,
            current=lambda: self.context,
        )

    def reload_config(self) -> bool:
        """SIGHUP: the config file reread. What each new connection reads (users,
        roles, nodes, trusted clusters, limits, recording and host-key policy,
        retention) applies to new connections, to new channels on open ones
        (``ConnectionContext.current``) and to the next retention pass; open
        sessions keep what they started with and are not cut. The keys in
        ``RESTART_KEYS`` keep their running values until a restart, and the log
        says so. A bad file leaves the running config as it was."""
        path = self.config.source
        if path is None:
            log.warning("reload: the proxy was started without a config file; nothing to reread")
            return False
        try:
            new = load_config(path)
        except ConfigError as exc:
            log.error("config not reloaded, the running one stays: %s", exc)
            self.audit.write("config_reload_failed", error=str(exc))
            return False
        changed = [
            f.name
            for f in fields(Config)
            if f.name != "source" and getattr(new, f.name) != getattr(self.config, f.name)
        ]
        later = [k for k in changed if k in RESTART_KEYS]
        applied = [k for k in changed if k not in RESTART_KEYS]
        self.config = replace(new, **{k: getattr(self.config, k) for k in RESTART_KEYS})
        self.context = self._context()  # for the connections from now on
        log.info(
            "config reloaded from %s: %s%s",
            path,
            f"changed {', '.join(applied)}" if applied else "nothing changed that applies now",
            f"; {', '.join(later)} changed but take a restart (the running values stay)"
            if later
            else "",
        )
        self.audit.write("config_reloaded", path=str(path), changed=applied, restart_needed=later)
        return True

    # What connections need
    def node_host_key(self, name: str) -> HostKey:
        """A host certificate for ``name`` from the host CA, minted once and reused."""
        now = time.time()
        cached = self._node_keys.get(name)
        if cached and cached[2] - now > NODE_CERT_RENEW:
            return cached[0], cached[1]
        issued = mint_host_certificate(self.host_ca, [name], NODE_CERT_TTL)
        self._node_keys[name] = (issued.key, issued.cert, issued.valid_before)
        return issued.key, issued.cert

    async def new_recording(
        self, fields: dict[str, Any], kind: str, session_id: str | None = None
    ) -> ChannelRecording:
        """A new session's recording and row; an ``IndexAway`` if the index can't
        take it (a session the index doesn't know of would go unrecorded)."""
        if not await self.index.probe():
            raise self._index_away(fields)
        session_id = session_id or SessionIndex.new_session_id()
        path = self.index.index.recording_path(session_id)
        writer = await asyncio.to_thread(
            RecordingWriter.create, path, {**fields, "session_id": session_id, "kind": kind}
        )
        # The file and its directory entry on the disk before a row names it.
        await asyncio.wrap_future(self.syncer.track(writer))
        try:
            row = self.index.start_session(
                session_id, **fields, kind=kind, recording_path=str(path)
            )
            await asyncio.wrap_future(row)
        except StorageError:
            self.syncer.forget(writer)
            await asyncio.to_thread(_discard, writer)
            raise self._index_away(fields) from None
        if self.live is not None:
            self.live.add(session_id, path)
        self.stats["sessions"] += 1
        self.audit.write("session_start", session_id=session_id, **fields)
        return ChannelRecording(
            self.index,
            session_id,
            writer,
            self.recordings,
            self.audit,
            self.record_thread,
            self.text.wake,
            None if self.live is None else self.live.final,
            syncer=self.syncer,
            audit_key=self.audit_key,
        )

    def _dial_limit_changed(self, node: NodeDials, old: int, why: str) -> None:
        self.audit.write(
            "dial_limit",
            node=node.name,
            address=node.key,
            limit=node.limit,
            was=old,
            why=why,
            max_startups=node.max_startups,
        )

    def _report_dials(self) -> None:
        """Per node, what its dial queue did lately: one failure row, when dials
        waited long, were dropped or gave up (not one row per dial of a burst)."""
        for report in self.dials.take_reports():
            self.record_failure(
                ProxyFailure(
                    FailureKind.DIAL_QUEUED,
                    report.message(),
                    f"{report.key}: dials {report.dials}, queued {report.queued}, "
                    f"longest wait {report.longest_wait:.2f}s, drops {report.drops}, "
                    f"cuts {report.cuts}, timeouts {report.timeouts}, limit {report.limit}",
                ),
                node=report.name,
            )

    def _sweep(self) -> None:
        """Every few seconds: this proxy's lease renewed, the live sessions of
        proxies that are gone (another machine's: its lease ran out) marked
        interrupted, and published output nobody follows any more dropped."""
        self.index.renew_lease(str(self.config.listen_addr))
        recovered = self.index.call(recover_interrupted)
        recovered.add_done_callback(_report_recovered)
        self.index.forget_live(time.time() - LIVE_KEPT)

    def _index_away(self, fields: dict[str, Any]) -> IndexAway:
        reason = self.index.trouble or "the index does not answer"
        self.audit.write("session_refused", reason=reason, **fields)
        log.warning("session refused (%s): %s", fields.get("node", "-"), reason)
        return IndexAway(
            f"auditor: the audit index is unreachable ({reason}); new sessions are "
            "refused until it is back, so that none goes unrecorded"
        )

    def record_failure(self, failure: ProxyFailure, **fields: Any) -> None:
        self.stats["failures"] += 1
        fields = {k: v for k, v in fields.items() if v is not None}
        log.warning("%s: %s (%s)", failure.kind, failure.message, fields.get("node", "-"))
        self.index.record_failure(
            failure.kind,
            failure.message,
            retries=failure.retries,
            detail=failure.detail,
            **fields,
        )
        self.audit.write("failure", kind=failure.kind, message=failure.message, **fields)

    async def _flush_loop(self) -> None:
        next_tick = 0.0
        while True:
            await asyncio.sleep(self.flush_interval)
            if self.live is not None:
                self._tick_followed(self.live.watched_now)
            if time.monotonic() < next_tick:
                continue
            next_tick = time.monotonic() + FLUSH_INTERVAL - self.flush_interval / 2
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_INTERVAL
                self._sweep()
                self._report_dials()
            for rec in list(self.recordings):
                rec.tick()
            if self.uploads is not None:
                # Live, or sealed and not yet on the disk: not the bucket's yet.
                live = {r.writer.path for r in self.recordings if r.writer}
                self.uploads.tick(self.index, live | self.syncer.unsealed())
            self.terminations.check()  # `auditor terminate`, from any process or machine

    def _tick_followed(self, followed: frozenset[str]) -> None:
        """Sessions someone follows from another machine flush five times a
        second, on a faster tick; the others as on one machine."""
        for rec in list(self.recordings):
            if rec.writer is None:
                continue
            fast = rec.session_id in followed
            rec.writer.flush_interval = LIVE_FLUSH_INTERVAL if fast else WRITER_FLUSH_INTERVAL
            if fast:
                rec.tick()


def _raise_fd_limit() -> None:
    """A thousand sessions take four thousand descriptors (client, node,
    recording, index): the soft limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("open files limit stays at %d: %s", soft, exc)
            return
        log.info("open files limit raised from %d to %d", soft, hard)
    elif soft != resource.RLIM_INFINITY and soft < 4096:
        log.warning(
            "open files limit is %d: about 4 a session, so fewer than %d sessions at once",
            soft,
            soft // 4,
        )


def _report_recovered(fut: Future[int]) -> None:
    if not fut.cancelled() and fut.exception() is None and fut.result():
        log.warning("marked %s live sessions of a proxy that is gone interrupted", fut.result())


def _discard(writer: RecordingWriter) -> None:
    """A refused session's recording: nothing of it was forwarded."""
    writer.close()
    writer.path.unlink(missing_ok=True)
    index_path(writer.path).unlink(missing_ok=True)
