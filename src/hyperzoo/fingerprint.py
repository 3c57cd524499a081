"""What a target module computes, apart from the weights a run generates: its outputs on fixed
inputs with fixed weights and batch-norm statistics.

A run trained from a module that cannot be rebuilt by name is reopened with the user's module
(``hyperzoo.load(run_dir, module=...)``), and any module of the same class and shapes was
accepted: one whose buffer, constant or forward differed computed other networks without a
word. ``fit`` stores the fingerprint of the module it trained (``target_fingerprint.json``)
and reopening compares.
"""

from __future__ import annotations

import copy
import json
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from hyperzoo.errors import RunError
from hyperzoo.targets.target_net import STAT_NAMES
from hyperzoo.weights import atomic_write_text

FILE = "target_fingerprint.json"
EXAMPLES = 4


def _fixed(name: str, shape: torch.Size) -> torch.Tensor:
    """Values for one parameter or statistic, drawn from its name alone (not from its position,
    which other code may change): He-scaled weights, variances in [0.5, 1.5)."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    if name.endswith("running_var"):
        return torch.rand(shape, generator=g) + 0.5
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    scale = math.sqrt(2 / fan_in) if len(shape) > 1 else 0.1
    return torch.randn(shape, generator=g) * scale


def fingerprint(module: nn.Module, input_shape: Sequence[int]) -> tuple[torch.Tensor, str] | None:
    """Outputs ``(EXAMPLES, ...)`` of a float32 CPU copy of ``module`` in eval mode, with fixed
    parameters and batch-norm statistics, on fixed random inputs of ``input_shape`` (a forward
    that draws noise draws the same), and the copy's printout (its layers' settings, such as a
    dropout's p, which act in training only); None where it cannot run or returns no tensor."""
    try:
        copied = copy.deepcopy(module).float().cpu().eval()
        x = torch.rand(EXAMPLES, *input_shape, generator=torch.Generator().manual_seed(0))
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in copied.parameters()):
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                copied(x)  # lazy layers take their shapes (a fresh LazyLinear has none to fill)
        stats = {f"{name}.{stat}" if name else stat for name, m in copied.named_modules()
                 if isinstance(m, nn.modules.batchnorm._NormBase) and m.running_mean is not None
                 for stat in STAT_NAMES}
        generated = [*copied.named_parameters(), *((k, b) for k, b in copied.named_buffers() if k in stats)]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for name, t in generated:
                t.copy_(_fixed(name, t.shape))
            torch.manual_seed(0)
            out = copied(x)
    except Exception:  # cannot tell: no fingerprint, no check
        return None
    if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
        return None
    return out.detach(), repr(copied)  # once its lazy layers have their shapes


def write(run_dir: Path, module: nn.Module, input_shape: Sequence[int]) -> Path | None:
    """Store ``module``'s fingerprint in ``run_dir``; the file, or None where there is none."""
    found = fingerprint(module, input_shape)
    if found is None:
        return None
    out, printed = found
    path = run_dir / FILE
    atomic_write_text(path, json.dumps({
        "what": "outputs of the target module (eval mode, float32, CPU) with fixed weights and "
                "batch-norm statistics on fixed inputs (hyperzoo.fingerprint)",
        "input_shape": list(input_shape), "module": printed,
        # NaN and infinity as strings: JSON has neither.
        "outputs": [v if math.isfinite(v) else str(v) for v in out.flatten().tolist()],
        "shape": list(out.shape)}) + "\n")
    return path


def _first_difference(given: str, trained: str) -> str:
    """The first line where two printed modules differ, as ``'…' where the trained one has '…'``."""
    ours, theirs = given.splitlines(), trained.splitlines()
    for a, b in zip(ours, theirs, strict=False):
        if a != b:
            return f"{a.strip()!r} where the trained one has {b.strip()!r}"
    if len(ours) > len(theirs):
        return f"{ours[len(theirs)].strip()!r}, which the trained one lacks"
    if len(theirs) > len(ours):
        return f"the trained one's {theirs[len(ours)].strip()!r} is missing"
    return "the same lines, spaced otherwise"


def check(run_dir: Path, module: nn.Module) -> None:
    """Refuse a ``module`` that computes otherwise than the one the run in ``run_dir`` trained
    (folders without a fingerprint are not checked)."""
    path = run_dir / FILE
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
        expected = torch.tensor([float(v) for v in stored["outputs"]], dtype=torch.float32
                                ).reshape(stored["shape"])
        shape = [int(s) for s in stored["input_shape"]]
        printed = str(stored["module"])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise RunError(f"{path} is not a target fingerprint hyperzoo wrote ({e})") from e
    found = fingerprint(module, shape)
    got = found[0] if found is not None else None
    if got is None:
        how = f"cannot run on inputs of shape {tuple(shape)} with fixed weights"
    elif found[1] != printed:  # what acts in training only (a dropout's p) shows here
        how = f"prints otherwise: {_first_difference(found[1], printed)}"
    elif got.shape != expected.shape:
        how = f"returns shape {tuple(got.shape)} with fixed weights, not {tuple(expected.shape)}"
    elif not close(got, expected):
        gap = float((got - expected).abs().nan_to_num(float("inf")).max())
        how = f"differs by up to {gap:.3g} with fixed weights"
    else:
        return
    raise RunError(f"the module given computes otherwise than the one {run_dir} trained (its output "
                   f"{how}): a layer, buffer, constant or forward differs; reopen it with a module built "
                   f"as the one given to fit (to reopen it anyway, remove {path.name})")


def close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """Finite values within float32 rounding of a forward on another CPU; NaN and infinities
    where they were."""
    finite = expected.isfinite()
    if not torch.equal(finite, got.isfinite()) or not torch.equal(got[~finite].nan_to_num(),
                                                                   expected[~finite].nan_to_num()):
        return False
    scale = float(expected[finite].abs().max()) if bool(finite.any()) else 0.0
    return torch.allclose(got[finite], expected[finite], rtol=1e-4, atol=1e-5 * max(scale, 1.0))
