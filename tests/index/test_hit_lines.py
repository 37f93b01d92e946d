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
from auditor.tui.samples import bundled_samples, import_samples

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
