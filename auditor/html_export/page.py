"""The HTML page of one session: metadata, commands, signed anchor and an inlined player.

Everything the audited side wrote (logins, node names, commands, exec
requests, the output itself) is data here, never markup: text goes into the
page through ``html.escape``, and the recording and the page's data through
JSON in a ``<script type="application/json">`` with ``<``, ``>`` and ``&``
written as ``\\u003c``..., so no string can close the element it sits in.
A Content-Security-Policy allows only the page's own two scripts (by hash),
no inline event handlers and no network at all, so even a slip in the
escaping could neither run a script nor fetch anything.

The recording is the asciicast v2 of ``export --format asciicast`` (same
events, same times), so a command's time in the index is the player's time.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TextIO

from auditor.errors import AuditorError
from auditor.index.api import SessionIndex
from auditor.index.rows import CommandRow, Session
from auditor.recording.asciicast import asciicast_lines
from auditor.recording.reader import Record, RecordingReader
from auditor.replay.moment import format_time
from auditor.upkeep.command_extraction import extract_commands

PLAYER = "asciinema-player 3.18.0"  # the vendored build: asciinema_player/README.md
SPEEDS = ("0.5", "1", "1.5", "2", "4", "8")

_STYLE = """
:root { color-scheme: light; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 1400px; padding: 1em 1.5em; color: #1d1f21; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.sub { color: #555; margin: 0 0 1em; }
.replay-and-commands { display: grid; grid-template-columns: minmax(0, 3fr) minmax(16em, 1fr);
  gap: 1em; align-items: start; }
.controls { margin: .5em 0; display: flex; gap: 1em; align-items: center; }
#commands { max-height: 36em; overflow: auto; border: 1px solid #ccc; border-radius: 4px; }
#commands h2 { margin: 0; padding: .4em .6em; background: #f3f3f3; position: sticky; top: 0; }
#commands ol { list-style: none; margin: 0; padding: 0; }
#commands button { display: block; width: 100%; text-align: left; border: 0;
  border-top: 1px solid #eee; background: none; padding: .35em .6em; cursor: pointer;
  font: inherit; white-space: pre-wrap; word-break: break-all; }
#commands button:hover, #commands button:focus { background: #eef4ff; }
#commands button.current { background: #dde8ff; }
#commands .t { color: #555; margin-right: .5em; } #commands .ctx { color: #777; }
table.meta { border-collapse: collapse; } table.meta th { text-align: left; padding-right: 1.5em;
  font-weight: 600; vertical-align: top; } table.meta td, table.meta th { padding: .15em .4em; }
table.meta td { white-space: pre-wrap; word-break: break-all; }
pre.block { background: #f6f6f6; border: 1px solid #ddd; padding: .6em; overflow: auto;
  white-space: pre-wrap; word-break: break-all; }
.note { color: #555; font-size: .92em; } .unsigned { color: #8a4b00; }
"""

# Reads the page's data, starts the player, wires the speed menu, the command
# list (a click seeks there) and the anchor's downloads. Event handlers are
# attached here: the page's policy forbids inline ones.
_SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("auditor-data").textContent);
  var box = document.getElementById("player");
  var speed = document.getElementById("speed");
  var clock = document.getElementById("clock");
  var buttons = Array.prototype.slice.call(document.querySelectorAll("#commands button"));
  var player = null, playing = false;
  function mount(startAt, autoPlay) {
    if (player) { player.dispose(); }
    player = AsciinemaPlayer.create({data: data.cast}, box, {
      // The poster is the frame at the start: a paused page shows the moment it opens at.
      startAt: startAt, poster: "npt:" + startAt, autoPlay: autoPlay, preload: true,
      speed: parseFloat(speed.value),
      markers: data.markers, fit: "width", controls: true,
      terminalFontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace'
    });
    playing = autoPlay;
    player.addEventListener("play", function () { playing = true; });
    player.addEventListener("playing", function () { playing = true; });
    player.addEventListener("pause", function () { playing = false; });
    player.addEventListener("ended", function () { playing = false; });
  }
  function fmt(t) {
    var tenths = Math.floor(Math.max(0, t) * 10 + 1e-6), s = Math.floor(tenths / 10);
    var m = Math.floor(s / 60), ss = String(s % 60);
    return m + ":" + (ss.length < 2 ? "0" + ss : ss) + "." + (tenths % 10);
  }
  function tick() {
    var t = player.getCurrentTime();
    if (typeof t !== "number") { return; }
    clock.textContent = fmt(t) + " / " + fmt(data.duration);
    var current = -1;
    for (var i = 0; i < buttons.length; i++) {
      if (parseFloat(buttons[i].dataset.t) <= t + 0.05) { current = i; }
    }
    buttons.forEach(function (b, i) { b.classList.toggle("current", i === current); });
  }
  mount(data.startAt, false);
  speed.addEventListener("change", function () {
    var t = player.getCurrentTime();
    mount(typeof t === "number" ? t : 0, playing);
  });
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      player.seek(parseFloat(b.dataset.t)).then(tick);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("a[data-download]"), function (a) {
    var text = data.anchor[a.dataset.download];
    a.href = "data:text/plain;charset=utf-8," + encodeURIComponent(text);
  });
  setInterval(tick, 200);
  // For scripts driving the page (and the tests): the live player.
  window.auditorReplay = {player: function () { return player; }};
})();
"""


def write_html(
    out: TextIO,
    session: Session,
    records: Iterable[Record],
    meta: dict[str, Any],
    commands: Sequence[CommandRow],
    start_at: float | None = None,
) -> None:
    """Write the page for ``session``: ``records`` as ``export --format asciicast``
    takes them (ShownOutput applied), ``commands`` the index's, in time order."""
    player_js, player_css = _asset("asciinema-player.min.js"), _asset("asciinema-player.css")
    for name, text, end in (("script", player_js, "</script"), ("style", player_css, "</style")):
        if end in text.lower() or "<!--" in text:
            raise AuditorError(f"the vendored asciinema-player {name} cannot be inlined ({end})")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash(player_js)} {_hash(_SCRIPT)} 'wasm-unsafe-eval'",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "connect-src data:",
            "font-src data:",
        ]
    )
    who = "@".join(x for x in (session.login, session.node) if x) or session.user or "-"
    out.write(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="auditor export --format html">\n'
        f"<title>auditor session {_e(session.id[:8])}: {_e(who)}</title>\n"
        f"<style>{player_css}</style>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>Session <code>{_e(session.id[:8])}</code>: {_e(who)}</h1>\n"
        f'<p class="sub">{_e(_when(session.start))}, {_e(_duration(session))}, '
        f"{_e(_status(session))}. Exported by auditor at {_e(_when(time.time()))}.</p>\n"
        '<div class="replay-and-commands">\n<section id="replay">\n<div id="player"></div>\n'
        '<div class="controls"><label>Speed <select id="speed">'
        + "".join(
            f'<option value="{x}"{" selected" if x == "1" else ""}>{x}&times;</option>'
            for x in SPEEDS
        )
        + '</select></label> <span id="clock" class="mono"></span></div>\n'
        '<p class="note">Space plays and pauses, ← and → step 5 s, the bar seeks; '
        "a command in the list jumps there.</p>\n</section>\n"
    )
    _write_commands(out, commands)
    out.write("</div>\n")
    _write_metadata(out, session)
    anchor = _write_anchor(out, session)
    out.write(
        f'<p class="note">Played by {PLAYER} (Apache-2.0), inlined: this file needs '
        "no network.</p>\n"
    )
    # The recording streams into the JSON (a long session is not one string here).
    out.write('<script type="application/json" id="auditor-data">{"cast": "')
    markers: list[tuple[float, str]] = [(c.t, c.line) for c in commands]
    duration = 0.0
    for i, line in enumerate(asciicast_lines(records, meta)):
        if i:
            event = json.loads(line)
            duration = max(duration, float(event[0]))
            if event[1] == "m":
                markers.append((float(event[0]), str(event[2])))
        out.write(_script_json(line + "\n")[1:-1])
    rest = {
        "duration": duration,
        "startAt": start_at or 0,
        "markers": sorted(markers, key=lambda m: m[0]),
        "anchor": anchor,
    }
    out.write('", ' + _script_json(rest)[1:] + "</script>\n")
    out.write(f"<script>{player_js}</script>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n")


def session_command_rows(index: SessionIndex, session: Session) -> list[CommandRow]:
    """The session's commands in time order: the index's, read now if no proxy
    has read them yet (as ``auditor commands`` does); a live session's off its
    recording so far (the index reads them only once it has ended)."""
    if session.live:
        from auditor.replay.command_reader import session_commands

        assert session.recording is not None
        found = session_commands(RecordingReader(session.recording).records())
        return [CommandRow(session.id, c.t, session.start + c.t, c.line, c.context) for c in found]
    if session.id in index.pending_commands():
        extract_commands(index, session.id)
    return index.commands(session_id=session.id, limit=None)


def _write_commands(out: TextIO, commands: Sequence[CommandRow]) -> None:
    out.write(f'<aside id="commands"><h2>Commands ({len(commands)})</h2>\n<ol>\n')
    for c in commands:
        context = f'<span class="ctx">{_e(c.context)}</span> ' if c.context else ""
        out.write(
            f'<li><button type="button" data-t="{c.t:.6f}"><span class="t mono">'
            f"{format_time(c.t)}</span> {context}<code>{_e(c.line)}</code></button></li>\n"
        )
    if not commands:
        out.write('<li class="note">none read from this recording</li>\n')
    out.write("</ol>\n</aside>\n")


def _write_metadata(out: TextIO, s: Session) -> None:
    rows: list[tuple[str, str | None]] = [
        ("Session ID", s.id),
        ("User", s.user),
        ("Login", s.login),
        ("Node", f"{s.node}:{s.port}" if s.node and s.port else s.node),
        ("Cluster", s.cluster),
        ("Client address", s.client_addr),
        ("Kind", s.kind),
        ("Command (exec request)", s.command),
        ("Start", _when(s.start)),
        ("End", _when(s.end) if s.end is not None else "not ended"),
        ("Duration", _duration(s)),
        ("Status", s.status),
        ("Exit", _exit(s)),
        ("Terminated by", s.terminated_by),
        ("Termination reason", s.termination_reason if s.terminated_by else None),
        ("Recording's final hash", s.recording_hash),
    ]
    out.write('<section id="metadata"><h2>Session</h2>\n<table class="meta">\n')
    for label, value in rows:
        if value:
            out.write(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>\n")
    out.write("</table>\n</section>\n")


def _write_anchor(out: TextIO, s: Session) -> dict[str, str]:
    """The anchor's section; returns the texts its download links offer."""
    out.write('<section id="anchor"><h2>Hash anchor</h2>\n')
    if not (s.anchor_statement and s.anchor_signature):
        why = {
            "interrupted": "its proxy never sealed it (interrupted)",
            "live": "it had not ended when exported",
        }.get(s.status, "")
        if not why:
            why = (
                "imported from asciicast, not recorded by a proxy"
                if s.kind == "imported"
                else "recorded before the audit key, or by a proxy without it"
            )
        out.write(
            f'<p class="unsigned">Unsigned: {_e(why)}.</p>\n'
            f"<p>Final chain hash in the index: <code>{_e(s.recording_hash or 'none')}</code>. "
            "<code>auditor verify</code> checks the recording's hash chain against it.</p>\n"
            "</section>\n"
        )
        return {}
    rec = s.recording.name if s.recording is not None else f"{s.id}.rec"
    out.write(
        f"<p>The proxy that sealed the recording signed this statement with the audit key "
        f"<code>{_e(s.anchor_key or '?')}</code> (OpenSSH SSHSIG, namespace "
        "<code>auditor-anchor</code>): the session, the recording's final hash, its record "
        "count, start and seal times.</p>\n"
        f'<pre class="block" id="anchor-statement">{_e(s.anchor_statement)}</pre>\n'
        f'<pre class="block" id="anchor-signature">{_e(s.anchor_signature)}</pre>\n'
        "<h2>How to verify</h2>\n<ol>\n"
        '<li>Save the <a data-download="statement" download="statement">statement</a> and its '
        '<a data-download="signature" download="statement.sig">signature</a> (byte for '
        "byte: the statement ends with a newline).</li>\n"
        "<li>Get the audit public key from the operator (<code>auditor ca export --type=audit "
        "&gt; audit.pub</code>); <code>ssh-keygen -lf audit.pub</code> must print the "
        "fingerprint above.</li>\n"
        '<li>With OpenSSH alone: <pre class="block">echo "auditor $(cat audit.pub)" '
        "&gt; allowed_signers\nssh-keygen -Y verify -f allowed_signers -I auditor "
        "-n auditor-anchor -s statement.sig &lt; statement</pre></li>\n"
        f"<li>With the recording file and its sidecar (<code>{_e(rec)}</code>, "
        f'<code>{_e(rec)}.anchor</code>): <pre class="block">auditor verify --key audit.pub '
        f"{_e(rec)}</pre> checks that the file's hash chain ends at the signed hash.</li>\n"
        "</ol>\n"
        '<p class="note">The signature vouches for the recording file, not for this page: '
        "the page is auditor's rendering of it. What it shows is only as trusted as the "
        "recording it was exported from, checked as above.</p>\n</section>\n"
    )
    return {"statement": s.anchor_statement, "signature": s.anchor_signature}


def _asset(name: str) -> str:
    files = resources.files("auditor.html_export").joinpath("asciinema_player", name)
    return files.read_text(encoding="utf-8")


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _script_json(value: object) -> str:
    """JSON that cannot end its <script> element or open a comment in it."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(s: Session) -> str:
    return f"{s.duration(time.time()):.1f} s"


def _status(s: Session) -> str:
    exit_ = _exit(s)
    return f"{s.status}, {exit_}" if exit_ else s.status


def _exit(s: Session) -> str | None:
    if s.exit_signal:
        return f"signal {s.exit_signal}"
    return f"exit status {s.exit_status}" if s.exit_status is not None else None
