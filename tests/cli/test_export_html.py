"""``export --format html`` (issue 24.5): one page an outside auditor opens offline.

The page is opened in a real headless Chromium from ``file://`` with every
network fetch sent to a proxy that is not there, and the browser's own log
of requests must hold nothing but the file itself: then it plays (the
player's clock runs, the terminal shows the session's text), seeks (a
command in the list moves the terminal to what was on screen then), and
shows the metadata and the signed anchor. Markup typed by the audited user
or set as a node name shows as text and runs nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape as _e
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize
from auditor.recording.anchor import seal_anchor
from auditor.upkeep.text_extraction import extract_text
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import require, require_tool

T = TypeVar("T")
START = 1_780_000_000.0
SCRIPT_CMD = "echo '<script>alert(1)</script>'"
NODE = 'db1"><img src=x onerror="window.pwned=1">'
LOGIN = "ops<b>bold</b>"
PAGE_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "section"),
    *("label", "select", "option", "span", "aside", "ol", "li", "button", "code", "table"),
    *("tr", "th", "td", "pre", "a", "script"),
}


@dataclass
class Exported:
    sid: str
    page: Path
    audit_pub: str


def _shell(*steps: tuple[float, str, str]) -> list[tuple[float, Stream, bytes]]:
    """A pty session at a ``$ `` prompt: each step types a command (echoed) and
    gets its output, the way a shell's records come."""
    out: list[tuple[float, Stream, bytes]] = [
        (0.0, Stream.RESIZE, encode_resize(80, 12)),
        (0.1, Stream.OUTPUT, b"$ "),
    ]
    for t, typed, printed in steps:  # typed and echoed, then Enter at t
        out.append((t - 0.5, Stream.INPUT, typed.encode()))
        out.append((t - 0.45, Stream.OUTPUT, typed.encode()))
        out.append((t, Stream.INPUT, b"\r"))
        out.append((t + 0.05, Stream.OUTPUT, b"\r\n" + printed.encode() + b"$ "))
    return out


def _record(
    cli: AuditorCli, tmp_path: Path, at: str | None = None, uri: str | None = None
) -> Exported:
    """A sealed shell session with a signed anchor, a hostile node name and login."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    records = _shell(
        (1.0, "echo alpha-first", "alpha-first\r\n"),
        (4.0, SCRIPT_CMD, "<script>alert(1)</script>\r\n"),
        (8.0, "echo omega-last", "omega-last\r\n"),
    )
    records.append((9.0, Stream.EXIT, encode_exit(0)))
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    with SessionIndex.open(cli.data_dir, uri=uri) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        with RecordingWriter.create(path, {"session_id": sid, "start": START}) as writer:
            for t, stream, data in records:
                writer.append(stream, data, t)
        signed = seal_anchor(key, sid, writer)
        index.start_session(
            sid,
            user="mallory",
            login=LOGIN,
            node=NODE,
            port=22,
            kind="session",
            start=START,
            recording_path=str(path),
        )
        index.end_session(sid, exit_status=0, end=START + 9, signed=signed)
        extract_text(index, sid)
    page = tmp_path / "session.html"
    name = sid[:8] + (f"@{at}" if at else "")
    cli.run("export", name, "--format", "html", "-o", str(page))
    return Exported(sid, page, key.export_public_key().decode())


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with no way out: every fetch goes to a proxy on a closed
    port (loopback included), and the background services that phone home are off.
    Missing chromium fails the test: it is what the page is tested in."""
    chromium = require_tool("chromium", "chromium")
    driver = require_tool("chromedriver", "chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    b = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    try:
        yield b
    finally:
        b.quit()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def terminal_text(b: webdriver.Chrome) -> str:
    return str(b.execute_script("return document.querySelector('#player .ap-term').innerText;"))


def current_time(b: webdriver.Chrome) -> float:
    return float(b.execute_script("return window.auditorReplay.player().getCurrentTime();"))


def requests_made(b: webdriver.Chrome) -> list[str]:
    """Every URL the browser asked for, but the pages of its own (chrome://) new tab."""
    urls = []
    for entry in b.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        document = msg.get("params", {}).get("documentURL", "")
        if msg["method"] == "Network.requestWillBeSent" and not document.startswith("chrome://"):
            urls.append(msg["params"]["request"]["url"])
    return urls


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element of the page as a browser's tokenizer sees it."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Elements(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Elements().feed(html)
    return found


def no_alert(b: webdriver.Chrome) -> None:
    try:
        text = b.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"the page raised an alert: {text!r}")


def test_the_page_plays_and_seeks_offline_and_shows_the_signed_anchor(
    cli: AuditorCli, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    e = _record(cli, tmp_path)
    html = e.page.read_text()
    assert e.page.stat().st_mode & 0o077 == 0  # as private as the recording
    # One file: no element names anything to load, no style imports or fetches any.
    linked = [(tag, attrs) for tag, attrs in elements(html) if {"src", "href"} & set(attrs)]
    styles = "".join(re.findall(r"<style>(.*?)</style>", html, re.S))
    assert not linked and "@import" not in styles and "url(" not in styles, linked

    browser.get(e.page.as_uri())
    wait_for("the player", lambda: browser.find_elements(By.CSS_SELECTOR, "#player .ap-term"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert e.sid in body and "mallory" in body and NODE + ":22" in body and LOGIN in body
    assert "exit status 0" in body and "2026-05-28 20:26:40 UTC" in body  # START, in UTC
    listed = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#commands button")]
    assert listed == [
        "0:01.0 $ echo alpha-first",
        f"0:04.0 $ {SCRIPT_CMD}",
        "0:08.0 $ echo omega-last",
    ]

    # The anchor: the statement and signature as signed, checked by OpenSSH alone,
    # with the page's own downloads and instructions.
    statement = browser.find_element(By.ID, "anchor-statement").text + "\n"
    signature = browser.find_element(By.ID, "anchor-signature").text + "\n"
    assert statement.startswith(f"auditor-anchor-v1\nsession {e.sid}\nhash ")
    assert "ssh-keygen -Y verify -f allowed_signers -I auditor -n auditor-anchor" in body
    assert f"auditor verify --key audit.pub {e.sid}.rec" in body
    downloaded = browser.execute_async_script(
        "var done = arguments[0], a = document.querySelectorAll('a[data-download]');"
        "Promise.all([].map.call(a, function (x) { return fetch(x.href).then("
        "function (r) { return r.text(); }); })).then(done, function (e) { done(String(e)); });"
    )
    assert downloaded == [statement, signature]
    keygen = require("ssh-keygen")
    (tmp_path / "allowed_signers").write_text(f"auditor {e.audit_pub}")
    (tmp_path / "statement.sig").write_text(downloaded[1])
    checked = subprocess.run(
        [
            *(keygen, "-Y", "verify", "-f", str(tmp_path / "allowed_signers"), "-I", "auditor"),
            *("-n", "auditor-anchor", "-s", str(tmp_path / "statement.sig")),
        ],
        input=downloaded[0].encode(),
        capture_output=True,
    )
    assert checked.returncode == 0, checked.stderr

    # Plays: the clock runs and the terminal reaches the session's last output.
    assert "omega-last" not in terminal_text(browser)
    browser.find_element(By.CSS_SELECTOR, "#player .ap-player").click()
    wait_for("the player to advance", lambda: current_time(browser) > 0.5)
    wait_for("the end of the session", lambda: "omega-last" in terminal_text(browser))

    # Seeks: a command in the list moves the terminal to its moment, before what follows.
    browser.find_elements(By.CSS_SELECTOR, "#commands button")[0].click()
    wait_for("the seek to 0:01.0", lambda: "omega-last" not in terminal_text(browser))
    shown = terminal_text(browser)
    assert "echo alpha-first" in shown and "<script>" not in shown
    assert abs(current_time(browser) - 1.0) < 0.3
    # And speed: a faster player carries on from where it was.
    browser.execute_async_script("window.auditorReplay.player().pause().then(arguments[0]);")
    paused_at = current_time(browser)
    browser.execute_script(
        "var s = document.getElementById('speed'); s.value = '4';"
        "s.dispatchEvent(new Event('change'));"
    )
    wait_for("the new player", lambda: terminal_text(browser).strip())
    assert abs(current_time(browser) - paused_at) < 0.1
    browser.execute_script("window.auditorReplay.player().play();")
    wait_for("4x to the end", lambda: "omega-last" in terminal_text(browser), timeout=10)

    # For a person to look at (pytest --basetemp=DIR keeps it): the whole page.
    browser.set_window_size(1400, 1900)
    browser.save_screenshot(str(tmp_path / "page.png"))
    # Nothing but the file itself (and the page's own data: URLs) was asked for.
    made = requests_made(browser)
    assert e.page.as_uri() in made
    outside = [u for u in made if u != e.page.as_uri() and not u.startswith("data:")]
    assert not outside, f"the page made requests: {outside}"
    problems = [
        entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
    ]
    assert not problems, problems


def test_hostile_strings_are_text_and_run_nothing(
    cli: AuditorCli, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    e = _record(cli, tmp_path, at="0:04.5")
    html = e.page.read_text()
    # The typed command and the node name never reach the page as markup: the page
    # has exactly its own elements.
    assert "<script>alert" not in html and '"><img' not in html and "<b>bold" not in html
    tags = {tag for tag, _ in elements(html)}
    assert tags <= PAGE_TAGS, tags - PAGE_TAGS
    assert [attrs.get("type") for tag, attrs in elements(html) if tag == "script"] == [
        "application/json",
        None,
        None,
    ]

    browser.get(e.page.as_uri())
    wait_for("the player", lambda: browser.find_elements(By.CSS_SELECTOR, "#player .ap-term"))
    # Exported at a moment (ID@T), the page opens there: the output the user
    # printed shows in the terminal as the text it was.
    wait_for("the moment", lambda: "<script>alert(1)</script>" in terminal_text(browser))
    assert "omega" not in terminal_text(browser)
    assert abs(current_time(browser) - 4.5) < 0.1
    browser.find_element(By.CSS_SELECTOR, "#player .ap-player").click()
    wait_for("the end of the session", lambda: "omega-last" in terminal_text(browser))
    no_alert(browser)
    facts: dict[str, Any] = browser.execute_script(
        "return {pwned: window.pwned === 1, imgs: document.images.length,"
        " bold: document.querySelectorAll('b').length,"
        " scripts: document.scripts.length, title: document.title,"
        " node: document.querySelector('#metadata').innerText};"
    )
    assert (
        facts
        == {
            "pwned": False,
            "imgs": 0,
            "bold": 0,
            "scripts": 3,  # the data, the player, the page's own
            "title": f"auditor session {e.sid[:8]}: {LOGIN}@{NODE}",
            "node": facts["node"],
        }
    )
    assert NODE + ":22" in facts["node"] and LOGIN in facts["node"]
    commands = browser.find_element(By.ID, "commands").text
    assert SCRIPT_CMD in commands
    browser.find_elements(By.CSS_SELECTOR, "#commands button")[1].click()
    wait_for("the seek", lambda: "omega" not in terminal_text(browser))
    no_alert(browser)


def test_sessions_the_page_cannot_show_are_one_line_errors(cli: AuditorCli, tmp_path: Path) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        sid = index.start_session(kind="forward", node="db1", start=START)
        index.end_session(sid, end=START + 1)
    page = tmp_path / "s.html"
    bad = cli.run("export", sid[:8], "--format", "html", "-o", str(page), check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
    assert "is a port forward" in bad.stderr and not page.exists()
    assert not list(tmp_path.glob(".s.html*"))
    unknown = cli.run("export", "ffffffff", "--format", "html", "-o", str(page), check=False)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert not page.exists()


def test_a_live_session_exports_with_its_commands_so_far(cli: AuditorCli, tmp_path: Path) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        writer = RecordingWriter.create(path, {"session_id": sid, "start": START})
        for t, stream, data in _shell((1.0, "uptime", " 10:00 up 1 day\r\n")):
            writer.append(stream, data, t)
        writer.flush()
        index.start_session(sid, user="ann", node="db1", start=START, recording_path=str(path))
        page = tmp_path / "live.html"
        cli.run("export", sid[:8], "--format", "html", "-o", str(page))
        writer.close()
    commands = [attrs for tag, attrs in elements(page.read_text()) if tag == "button"]
    assert [c["data-t"] for c in commands] == ["1.000000"]
    assert "<code>uptime</code>" in page.read_text() and "it had not ended" in page.read_text()


def test_the_page_from_a_postgresql_index(
    cli: AuditorCli, tmp_path: Path, postgres_uri: str
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text(f"storage:\n  audit_events_uri: {postgres_uri}\n")
    pg = AuditorCli(cli.data_dir, config=config)
    e = _record(pg, tmp_path, uri=postgres_uri)
    html = e.page.read_text()
    found = [attrs["data-t"] for tag, attrs in elements(html) if tag == "button"]
    assert found == ["1.000000", "4.000000", "8.000000"]  # read from the recording just now
    with SessionIndex.open(pg.data_dir, uri=postgres_uri) as index:
        row = index.get_session(e.sid)
        assert len(index.commands(session_id=e.sid)) == 3  # and kept in the index
    assert row.anchor_statement and _e(row.anchor_statement) in html
    assert row.anchor_signature and row.anchor_signature in html
