"""Where tensors live: the ``train.device`` setting, and random draws that do not depend on it.

Every random number a method or the trainer draws (noise z, dropout masks, flow noise, image
indices, augmentation offsets) comes from a CPU ``torch.Generator`` and is then moved to the
device. A CPU generator cannot fill a CUDA tensor ("Expected a 'cuda' device type for
generator"), and drawing on the CPU makes the numbers the same on every device kind: a run
checkpointed on a GPU resumes on a CPU (or the other way round) with the same noise, and a
checkpoint's generator states are plain CPU tensors.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence

import torch

from hyperzoo.errors import ConfigError

DEVICES = "'auto', 'cpu', 'cuda' or 'cuda:N'"


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """``train.device`` as a ``torch.device``: ``auto`` (or None) is CUDA when available, else CPU."""
    if isinstance(spec, torch.device):
        return spec
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = _parse(spec)
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"train.device {spec!r} is not supported; expected {DEVICES}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device {spec!r}: no CUDA device is available here "
                              "(use 'auto' or 'cpu')")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"train.device {spec!r}: only {torch.cuda.device_count()} CUDA "
                              "device(s) here")
    return device


def _parse(spec: str) -> torch.device:
    try:
        return torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"train.device {spec!r} is not a device; expected {DEVICES}") from None


def reopen_device(spec: str) -> tuple[str, str | None]:
    """A saved run's ``train.device`` on the machine that reopens or resumes it: CUDA where there
    is none becomes ``cpu``, ``cuda:N`` beyond the devices present ``cuda`` (checkpoints hold
    CPU tensors and draws come from CPU generators, so the run continues there). Returns the
    device to use and a note saying what changed (None where nothing did)."""
    if not str(spec).startswith("cuda"):
        return spec, None
    if not torch.cuda.is_available():
        return "cpu", f"note: the run names train.device {spec!r}; no CUDA device here, so on the CPU"
    index = _parse(spec).index
    if index is not None and index >= torch.cuda.device_count():
        return "cuda", (f"note: the run names train.device {spec!r}; {torch.cuda.device_count()} CUDA "
                        "device(s) here, so on 'cuda'")
    return spec, None


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); CPU for one with neither."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def weights_device(weights: dict[str, torch.Tensor]) -> torch.device:
    """The device of a weight batch (its first tensor's)."""
    return next(iter(weights.values())).device


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator | None,
            device: torch.device | str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """U[low, high) of ``shape``, drawn on the CPU from ``generator``, then on ``device``."""
    return to_device(torch.empty(shape, dtype=dtype).uniform_(low, high, generator=generator), device)


def normal(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str,
           dtype: torch.dtype | None = None) -> torch.Tensor:
    """N(0, 1) of ``shape``, drawn on the CPU from ``generator``, then on ``device``: Box–Muller on
    two uniforms per value, which torch draws in memory order, so the first k rows of a draw of
    n are a draw of k (network i of a sample is the same for any n). torch.randn fills blocks of
    16 and draws a short tail again: its first rows changed with n."""
    out = torch.empty(math.prod(shape), dtype=dtype or torch.get_default_dtype())
    # In chunks, drawn one after another (the same values as one draw): the float64 uniforms,
    # four times a float32 sample's size, stay small beside a sample of many large networks.
    for start in range(0, out.numel(), _NORMAL_CHUNK):
        u = torch.rand(min(_NORMAL_CHUNK, out.numel() - start), 2, generator=generator, dtype=torch.float64)
        out[start:start + len(u)] = torch.sqrt(-2 * torch.log1p(-u[:, 0])) * torch.cos(2 * math.pi * u[:, 1])
    return to_device(out.reshape(shape), device)


_NORMAL_CHUNK = 1 << 20  # values per chunk of `normal`'s uniforms (16 MB)


def per_network(n: int, shapes: Sequence[tuple[int, ...]],
                draw: Callable[[tuple[int, int]], torch.Tensor]) -> list[torch.Tensor]:
    """One ``draw`` of ``(n, Σ sizes)`` split into ``(n, *shape)`` for each of ``shapes``: network i's
    values come from row i alone, so the first k networks of n are those of a draw of k (one draw
    per tensor after another made every tensor but the first depend on n)."""
    sizes = [math.prod(s) for s in shapes]
    flat = draw((n, sum(sizes)))
    return [part.reshape(n, *s) for part, s in zip(flat.split(sizes, dim=1), shapes, strict=True)]


def bernoulli(p: float, shape: tuple[int, ...], generator: torch.Generator | None,
              device: torch.device | str) -> torch.Tensor:
    """0/1 draws with P(1) = ``p`` of ``shape``, drawn on the CPU, then on ``device``."""
    return to_device(torch.bernoulli(torch.full(shape, p), generator=generator), device)


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A CPU tensor (a draw, a batch) on ``device`` without waiting for the GPU. A copy to a GPU
    from ordinary (pageable) memory waits for the work queued there, a host sync on every draw
    and batch; from pinned memory it is queued, and torch's pinned-memory allocator keeps the
    buffer until the copy is done. A fresh, contiguous pinned buffer: ``pin_memory()`` keeps a
    view's strides, and a strided source is staged through pageable memory again (the batch
    shares under torchrun), and it returns an already pinned tensor itself, which the caller
    might change before the copy."""
    if torch.device(device).type == "cuda" and t.device.type == "cpu":
        pinned = torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t)
        return pinned.to(device, non_blocking=True)
    return t.to(device)


def fork_rng(device: torch.device):
    """``torch.random.fork_rng`` of the CPU generator and, where ``device`` is CUDA, that device's
    (``torch.manual_seed`` inside reseeds every CUDA generator; a target's dropout draws there)."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


# The checkpoint's name for torch's global RNG state (a target's dropout draws from it): here,
# beside the CUDA states, so the methods and torchrun read it without the run-folder code.
GLOBAL_RNG = "torch_global"


def cuda_rng_states() -> dict[str, torch.Tensor]:
    """The CUDA RNG state of every device, where CUDA is in use (a target's own dropout draws
    from it inside a forward pass): ``{"cuda0": uint8 CPU tensor, ...}``; empty on a CPU."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}


def set_cuda_rng_states(states: dict[str, torch.Tensor]) -> None:
    """Restore what `cuda_rng_states` returned on every CUDA device present that has a saved
    state (a checkpoint of an 8-GPU node resumed on one GPU restores ``cuda0``, the first rank's;
    one resumed on a CPU has no CUDA state to restore, and the CPU draws stay identical)."""
    if not (states and torch.cuda.is_available()):
        return
    for i in range(torch.cuda.device_count()):
        if f"cuda{i}" in states:
            torch.cuda.set_rng_state(states[f"cuda{i}"], i)


def machine(device: torch.device | None = None) -> str:
    """The hardware as checkpoints and benchmarks record it: the CPU's model name, the kernels
    torch picked for it, its bfloat16 units (AMX, AVX512-BF16: oneDNN's kernels differ with them)
    and the architecture (the same code rounds differently, and runs at another speed, on another
    CPU); where ``device`` is a CUDA device, the GPU as well (`gpu`)."""
    lines = _cpuinfo()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    parts = [model or platform.processor(), torch.backends.cpu.get_cpu_capability(),
             *(bf16_units(lines) or []), platform.machine()]
    cpu = ", ".join(p for p in parts if p)
    card = gpu(device) if device is not None else None
    return cpu if card is None else f"{cpu}; GPU {card}"


def gpu(device: torch.device) -> str | None:
    """A CUDA device's name, compute capability and torch's CUDA version; None for a CPU."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return f"{props.name}, compute capability {props.major}.{props.minor}, CUDA {torch.version.cuda}"


def bf16_units(cpuinfo: list[str] | None = None) -> list[str] | None:
    """The CPU's bfloat16 units: AMX and AVX512-BF16 (x86's ``flags``), BF16 (Arm's ``Features``);
    None where /proc/cpuinfo (its lines ``cpuinfo``, read here if not given) lists neither line
    (not Linux)."""
    lines = [ln.split(":", 1) for ln in (_cpuinfo() if cpuinfo is None else cpuinfo) if ":" in ln]
    for key, units in (("flags", (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))),
                       ("Features", (("bf16", "BF16"),))):
        listed = next((value.split() for name, value in lines if name.strip() == key), None)
        if listed is not None:
            return [name for flag, name in units if flag in listed]
    return None


def bf16_emulated(device: torch.device) -> str | None:
    """What ``device`` lacks to run bfloat16 natively (it is emulated there, slower than
    float32), or None: a CPU without bfloat16 units, a GPU older than Ampere."""
    if device.type == "cpu" and bf16_units() == []:
        return "a CPU without bfloat16 units (AMX, AVX512-BF16, Arm's BF16)"
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] < 8:
        return "a GPU older than Ampere (compute capability < 8)"
    return None


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read().splitlines()
    except OSError:
        return []
