"""Notes to the user: one line on stderr, said once per command.

Under torchrun every process meets the same settings and data, so rank 0 alone speaks (two
processes printed every note twice); errors are not notes: each process reports its own."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Lists that hold the notes said inside `held` (innermost last) instead of printing them.
_held: list[list[str]] = []


def process_rank() -> int:
    """This process's rank under torchrun, from its environment (no torch import); 0 alone (a
    launcher that sets RANK for a job of one process is one process)."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def torchrun_prefix() -> str:
    """How this process was launched, for a command that continues its work: ``torchrun
    --nproc_per_node=K --standalone --no-python `` (its --nnodes/--rdzv flags named, not known,
    across machines) under torchrun, else ""."""
    world, local = int(os.environ.get("WORLD_SIZE", "1")), os.environ.get("LOCAL_WORLD_SIZE", "1")
    if world <= 1:
        return ""
    nodes = "(and its --nnodes/--rdzv flags) " if world > int(local) else "--standalone "
    return f"torchrun --nproc_per_node={local} {nodes}--no-python "


def note(text: str) -> None:
    """Print ``note: text`` on stderr, in rank 0 only under torchrun."""
    if _held:
        _held[-1].append(text)
    elif process_rank() == 0:
        print(f"note: {text}", file=sys.stderr)


@contextmanager
def held() -> Iterator[list[str]]:
    """Within it, notes go into the yielded list instead of stderr: the caller says them (`note`)
    or drops them, where a later step would say the same again. A block that raises says them
    (a note marked as said and dropped would never be said in this process)."""
    _held.append([])
    try:
        yield _held[-1]
    except BaseException:
        kept = _held.pop()
        for text in kept:
            note(text)
        raise
    else:
        _held.pop()
