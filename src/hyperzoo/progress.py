"""Progress bars: live on a terminal; into a log file or a pipe, an update a minute."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

# Seconds between a bar's updates where stderr is not a terminal: at tqdm's default (ten a
# second) a redirected log filled with carriage-return updates (5 kB for the one-minute demo, MB
# an hour for a long run), while a log still wants to show that the work moves.
LOG_INTERVAL_S = 60.0
_NOTEBOOK = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)  # tqdm.auto chose the widget


def progress_bar(iterable: Iterable | None = None, *, show: bool, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, off unless ``show``; an update a minute into a non-terminal."""
    # tqdm.auto's notebook bar (a widget, where stderr is no terminal either) keeps its pace.
    if show and not sys.stderr.isatty() and not _NOTEBOOK:
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, disable=not show, **kwargs)
