"""``auditor export --format html``: one self-contained page an outside auditor opens offline.

The page (``page``) holds the session's metadata, its commands, its signed
hash anchor and the recording as asciicast v2, played by the vendored release
build of asciinema-player (``asciinema_player/``, Apache-2.0), its script and
styles inlined: the one file is enough, from ``file://``, with no network.
"""

from auditor.html_export.page import write_html

__all__ = ["write_html"]
