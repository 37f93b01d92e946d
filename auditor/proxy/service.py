"""The recording proxy as one component: ``await proxy.start()`` ... ``await proxy.stop()``.

``auditor proxy`` runs it alone; the TUI runs it in its own event loop. No
globals: everything a connection needs hangs off the ``RecordingProxy``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import resource
import socket
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import asyncssh

from auditor.access import AccessPolicy
from auditor.authority.audit_key import init_audit_key
from auditor.authority.ca import ensure_authorities, load_authority, mint_host_certificate
from auditor.authority.ssh_config import proxy_alias
from auditor.config import RESTART_KEYS, Config, ConfigError, HostPort, load_config
from auditor.datadir import ensure_private_dir
from auditor.errors import AuditorError
from auditor.index import FailureKind, SessionIndex
from auditor.proxy.audit_log import AuditLog
from auditor.proxy.channels import WINDOW
from auditor.proxy.connection import OuterServer
from auditor.proxy.dial_limit import DialLimiter, NodeDials
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.live import LIVE_FLUSH_INTERVAL, LivePublisher
from auditor.proxy.one_hop import Arriving, is_one_hop, serve_one_hop
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.recorder import FLUSH_INTERVAL, ChannelRecording, IndexWriter
from auditor.proxy.retention import apply_daily
from auditor.proxy.sshserver import CertificateServer, run_server_on_socket
from auditor.proxy.terminations import TerminationWatch
from auditor.proxy.text_process import TextProcess
from auditor.proxy.uploads import open_uploads
from auditor.proxy.upstream import DEFAULT_BACKOFF, SERVER_CIPHERS, Backoff
from auditor.recording import RecordingWriter
from auditor.recording.format import index_path
from auditor.recording.sync import RecordingSyncer
from auditor.recording.writer import FLUSH_INTERVAL as WRITER_FLUSH_INTERVAL
from auditor.storage import StorageError
from auditor.textsafe import visible

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
        self.unauthenticated: OrderedDict[CertificateServer | Arriving, float] = OrderedDict()
        self.connections: set[asyncssh.SSHServerConnection] = set()
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
        await self.index.acall("renew_lease", str(self.config.listen_addr))
        recovered = await self.index.acall("recover_interrupted")
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
        for conn in list(self.connections):
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
        # Counted against the cap from the first moment: a flood of silent
        # connections must not crowd out a client that is logging in.
        arriving = Arriving()
        self.unauthenticated_add(arriving)
        try:
            one_hop = await is_one_hop(client)  # `auditor connect`'s preamble, not SSH
        except asyncio.CancelledError:
            client.close()  # evicted while silent
            raise
        if one_hop:
            arriving.heard = True
            await serve_one_hop(self, client, arriving)
            return
        server = OuterServer(self)
        options = self._server_options(lambda: server, self.host_key, keepalive_interval=60)
        await self.serve_ssh(client, server, options, arriving)

    async def serve_ssh(
        self,
        client: socket.socket,
        server: CertificateServer,
        options: asyncssh.SSHServerConnectionOptions,
        arriving: Arriving,
    ) -> None:
        """Run ``server`` on the client's socket, counted as unauthenticated until it logs in."""
        self.unauthenticated.pop(arriving, None)
        self.unauthenticated_add(server)
        try:
            conn = await run_server_on_socket(client, options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            self.unauthenticated.pop(server, None)
            self.auth_failed(server, exc)
            return
        self.connections.add(conn)

    def unauthenticated_add(self, server: CertificateServer | Arriving) -> None:
        if len(self.unauthenticated) >= self.config.max_unauthenticated:
            # Drop one that has made the least progress, at random among those
            # (sshd's random early drop), rather than refuse the newcomer: whoever
            # holds slots open cannot lock real users out, and in a burst the
            # handshakes under way are not the ones cut.
            victim, rank = _least_progress(self.unauthenticated)
            del self.unauthenticated[victim]
            log.warning(
                "unauthenticated connections at the cap (%d); dropping one %s",
                self.config.max_unauthenticated,
                _RANKS[rank],
            )
            if isinstance(victim, Arriving):
                victim.abort()
            elif victim.conn is not None:
                victim.conn.abort()
        self.unauthenticated[server] = time.monotonic()

    def authenticated(self, server: CertificateServer) -> None:
        self.unauthenticated.pop(server, None)

    def connection_closed(self, server: CertificateServer, exc: Exception | None) -> None:
        self.unauthenticated.pop(server, None)
        if server.conn is not None:
            self.connections.discard(server.conn)

    def auth_failed(self, server: CertificateServer, exc: BaseException) -> None:
        if server.cert_problem and not getattr(server, "login_refused", False):
            self.record_failure(
                ProxyFailure("user_auth_failed", f"authentication failed: {server.cert_problem}"),
                login=server.login,
                client_addr=f"{server.peer[0]}:{server.peer[1]}",
            )
        elif isinstance(exc, asyncssh.ProtocolError | asyncssh.ProtocolNotSupported):
            self.record_failure(
                ProxyFailure("protocol_error", f"protocol error from client: {exc.reason}"),
                client_addr=f"{server.peer[0]}:{server.peer[1]}",
            )

    def check_login(self, server: CertificateServer, accepted: bool) -> bool:
        """The ``users`` section: may this certificate's user use the requested login?"""
        if not accepted or server.user is None:
            return accepted
        allowed = self.config.logins_for(server.user)
        if allowed is None or server.login in allowed:
            return True
        server.login_refused = True  # type: ignore[attr-defined]
        message = (
            f"login {server.login!r} is not allowed for user {server.user!r} "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )
        self.record_failure(
            ProxyFailure("login_denied", message),
            user=server.user,
            login=server.login,
            client_addr=f"{server.peer[0]}:{server.peer[1]}",
        )
        server.tell(f"auditor: {visible(message)}")  # the one banner of this connection
        return False

    # Who may reach what (auditor/access.py), and a reload of it
    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy(self.config)

    def reload_config(self) -> bool:
        """SIGHUP: the config file reread. What each new connection reads (users,
        roles, nodes, trusted clusters, limits, recording and host-key policy,
        retention) applies to new connections and the next retention pass; open
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
    def node_host_key(self, name: str) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
        """A host certificate for ``name`` from the host CA, minted once and reused."""
        now = time.time()
        cached = self._node_keys.get(name)
        if cached and cached[2] - now > NODE_CERT_RENEW:
            return cached[0], cached[1]
        issued = mint_host_certificate(self.host_ca, [name], NODE_CERT_TTL)
        self._node_keys[name] = (issued.key, issued.cert, issued.valid_before)
        return issued.key, issued.cert

    async def inner_options(self, pc: Any, factory: Any) -> asyncssh.SSHServerConnectionOptions:
        return self._server_options(factory, self.node_host_key(pc.request.host))

    def _server_options(
        self, factory: Any, host_key: tuple[asyncssh.SSHKey, asyncssh.SSHCertificate], **extra: Any
    ) -> asyncssh.SSHServerConnectionOptions:
        """The outer and the inner servers: raw bytes, the grace time, no X11 or scp."""
        return asyncssh.SSHServerConnectionOptions(
            server_factory=factory,
            server_host_keys=[host_key],
            encryption_algs=SERVER_CIPHERS,
            window=WINDOW,
            login_timeout=self.config.login_grace_time,
            agent_forwarding=True,
            x11_forwarding=False,
            allow_scp=False,
            line_editor=False,
            encoding=None,
            **extra,
        )

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
            await self.index.acall(
                "start_session",
                session_id=session_id,
                **fields,
                kind=kind,
                recording_path=str(path),
            )
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
                    "dial_queued",
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
        self.index.call("renew_lease", str(self.config.listen_addr))
        self.index.call("recover_interrupted").add_done_callback(_report_recovered)
        self.index.call("forget_live", time.time() - LIVE_KEPT)

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
        self.index.call(
            "record_failure",
            FailureKind(failure.kind),
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


# What an unauthenticated connection has done so far, least first.
_RANKS = (
    "that has not sent an SSH version line",
    "sending its one-hop preamble",
    "in key exchange",
    "in authentication",
)


def _progress(entry: CertificateServer | Arriving) -> int:
    """How far a connection got (an index of ``_RANKS``); asyncssh keeps the
    client's version line and the key exchange's end in private names (it is
    pinned below 3, see sshserver.py)."""
    if isinstance(entry, Arriving):
        return 1 if entry.heard else 0
    conn: Any = entry.conn
    if conn is None or not getattr(conn, "_client_version", b""):
        return 0
    if entry.login is not None:
        return 3
    return 2


def _least_progress(
    table: OrderedDict[CertificateServer | Arriving, float],
) -> tuple[CertificateServer | Arriving, int]:
    ranked: dict[int, list[CertificateServer | Arriving]] = {}
    for entry in table:
        ranked.setdefault(_progress(entry), []).append(entry)
    rank = min(ranked)
    return random.choice(ranked[rank]), rank


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
