"""Step-indexed schedules. Pure functions of the step, so a resumed run needs no extra state."""

from __future__ import annotations

import math
from typing import Literal, get_args

LrSchedule = Literal["constant", "cosine", "step"]
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)


def lr_factor(step: int, total: int, kind: LrSchedule = "constant", warmup: int = 0,
              min_factor: float = 0.0, decay_every: int = 0, decay: float = 1.0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t))
    if kind == "step":
        return decay ** ((step - warmup) // decay_every) if decay_every > 0 else 1.0
    raise ValueError(f"learning-rate schedule {kind!r} is not one of {', '.join(map(repr, LR_SCHEDULES))}")


def geometric_ramp(step: int, start: float, end: float, steps: int) -> float:
    """``start`` → ``end`` geometrically over ``steps`` steps, then ``end`` (for λ warm-up)."""
    if steps <= 0 or step >= steps:
        return end
    return start * (end / start) ** (step / steps)
