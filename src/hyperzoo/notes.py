"""Notes to the user: one line on stderr, said once per command.

Under torchrun every process meets the same settings and data, so rank 0 alone speaks (two
processes printed every note twice); errors are not notes: each process reports its own."""

from __future__ import annotations

import os
import sys


def note(text: str) -> None:
    """Print ``note: text`` on stderr, in rank 0 only under torchrun (a launcher that sets RANK
    for a job of one process is one process: it speaks)."""
    if os.environ.get("RANK", "0") == "0" or os.environ.get("WORLD_SIZE", "1") == "1":
        print(f"note: {text}", file=sys.stderr)
