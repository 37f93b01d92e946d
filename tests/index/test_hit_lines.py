"""A search hit is a line of the screen, at the time it was printed, on both engines.

The bundled sample shell session runs vim and less: full-screen programs
that move the cursor to each row instead of printing line ends. A hit in
them is the row that matched (not everything painted since the last line
end) and carries the time its line had been printed (not the start of the
stretch of text it is stored in), so the replay's timeline marks it there
and a replay at its moment shows it: never before, and within STEP after
(lines printed that close together share one time, the latest).
"""

from __future__ import annotations

import pytest

from auditor.index import SessionIndex
from auditor.index.linetimes import STEP
from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.replay.moment import format_time, parse_time
from auditor.replay.playback import Playback
from auditor.tui.samples import bundled_samples, import_samples
from auditor.upkeep.text_extraction import extract_text

SHELL = "e2458f9d9f1f494cb14c1304bcc6621d"  # the sample that runs vim, less and top
VIM_LINE = "«rollback» plan: restore the previous release"
VIM_TYPED = 2.2276  # when vim echoed the typed line (recording time)
LESS_SCROLLED = 4.1980  # when less scrolled its screen to show gopher


@pytest.fixture
def samples(index: SessionIndex) -> SessionIndex:
    source = bundled_samples()
    assert source is not None
    import_samples(index, source)
    return index


def test_a_hit_in_vim_is_its_row_at_its_time(samples: SessionIndex) -> None:
    [hit] = samples.search("rollback")
    assert hit.session.id == SHELL
    assert hit.line == VIM_LINE
    assert VIM_TYPED <= hit.t <= VIM_TYPED + STEP
    hits = samples.search_hits(SHELL, "rollback")
    assert hits == [(hit.t, VIM_LINE)]


def test_a_hit_in_less_is_its_row_at_its_time(samples: SessionIndex) -> None:
    [hit] = samples.search("gopher")
    assert hit.line == "«gopher»          70/tcp                          # Internet «Gopher»"
    assert hit.t == pytest.approx(LESS_SCROLLED, abs=0.001)
    hits = samples.search_hits(SHELL, "gopher")
    # Scrolled into view, then drawn again by later screens: each a hit of its own.
    assert len(hits) > 1 and {line for _, line in hits} == {hit.line}
    assert hits[0][0] == pytest.approx(LESS_SCROLLED, abs=0.001)
    assert all(t == pytest.approx(5.0128, abs=0.001) for t, _ in hits[1:])


def test_no_hit_in_the_sample_is_longer_than_the_screen_is_wide(samples: SessionIndex) -> None:
    for word in ("tcp", "udp", "root", "auditor", "load", "notes"):
        hits = samples.search_hits(SHELL, word)
        assert hits, word
        for t, line in hits:
            assert len(line.replace("«", "").replace("»", "")) <= 100, (word, line)
            assert 0.0 < t <= 7.9
        times = [t for t, _ in hits]
        assert times == sorted(times)


def test_a_hit_in_a_burst_is_still_on_the_screen_at_its_moment(index: SessionIndex) -> None:
    """A line, then forty more a millisecond apart (a loop of echos): the hit's
    moment is one its replay shows it at, not the burst's end, when it had
    long scrolled off the 24-row screen."""
    sid = "b1" * 16
    records = [
        (0.0, Stream.RESIZE, encode_resize(80, 24)),
        (1.0, Stream.OUTPUT, b"$ sh loop.sh\r\nneedle-line\r\n"),
        *[(1.001 + i / 1000, Stream.OUTPUT, f"filler {i}\r\n".encode()) for i in range(40)],
        (1.2, Stream.OUTPUT, b"$ "),
    ]
    path = index.recording_path(sid)
    with RecordingWriter.create(path, {"session_id": sid}) as writer:
        for t, stream, data in records:
            writer.append(stream, data, t)
    index.start_session(
        sid,
        user="joe",
        login="joe",
        node="web1",
        port=22,
        kind="session",
        start=1_700_000_000.0,
        recording_path=str(path),
    )
    index.end_session(sid, exit_status=0, end=1_700_000_001.2)
    extract_text(index, sid)
    [(t, line)] = index.search_hits(sid, "needle")
    assert line == "«needle»-line"
    playback = Playback(RecordingReader(path))
    playback.seek(parse_time(format_time(t)))
    assert "needle-line" in playback.terminal.text().splitlines()
