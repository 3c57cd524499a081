"""Progress bars into a log file: an update a minute, not ten a second."""

import sys

from hyperzoo.progress import LOG_INTERVAL_S, progress_bar


def test_a_bar_into_a_file_updates_once_a_minute(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    with progress_bar(range(3), show=True) as bar:
        assert bar.mininterval == LOG_INTERVAL_S and not bar.disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress_bar(range(3), show=True) as bar:
        assert bar.mininterval < 1
    assert progress_bar(range(3), show=False).disable
