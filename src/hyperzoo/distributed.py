"""Training on several processes launched by ``torchrun`` (gloo on CPU, NCCL on CUDA).

The split: **images across ranks, the same noise on every rank.** Every rank draws the same
global batch from the same generators (the same N noise vectors, the same N × M image indices
and augmentation), generates all N networks, and evaluates its own slice of the M images of
each network: rank r of K takes images ``r·M/K … (r+1)·M/K − 1`` of every network. So

- the Kozachenko–Leonenko entropy is computed over all N networks on every rank, exactly as in
  one process (splitting the networks instead would need a differentiable all-gather of the
  gauge-fixed weights, and an estimate over a rank's share alone is biased);
- the hypernetworks' batch norm (over the noise batch) sees the same N codes on every rank, so
  its statistics are those of one process;
- HyperGAN's discriminator sees the same codes and prior draws on every rank;
- a term over all networks' outputs on shared inputs (`Method.probe_size`) gets the whole
  batch's probe images on every rank from the trainer, not a cut of the rank's share.

The cost: the hypernetwork's forward and backward (and the entropy) are repeated on every
rank; only the target's work on the images is divided. Each rank's loss is its share's data
term plus the whole non-data term (entropy, KL, discriminator), so the **average** of the
ranks' gradients is the one-process gradient: the data term's mean over equal shares is the
mean over the whole batch, and the identical non-data term averages to itself.

Gradients are averaged by one all-reduce per optimizer group after each backward
(`average_gradients`), not by wrapping the method in ``DistributedDataParallel``: a method's
entry point is ``training_loss``, not ``forward``, and HyperGAN runs two backward passes per
forward (model, then discriminator), which DDP's reducer does not allow; with the gradients
averaged by hand both optimizers step on the exact one-process gradients.

Rank 0 alone writes the run folder and shows progress. Every rank's parameters, optimizers and
trainer generators are identical, so rank 0's checkpoint is what every rank resumes from. The
exception is torch's global generators, which a target's own dropout layers draw from: each rank
seeds its own (`seed_own_draws`), and rank 0's checkpoint holds every rank's state
(`global_rng_states`).
"""

from __future__ import annotations

import datetime
import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from hyperzoo.devices import GLOBAL_RNG
from hyperzoo.errors import ConfigError, RunError


@dataclass
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched() -> bool:
    """Whether torchrun (or another launcher setting its variables) started this process."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (a no-op outside torchrun); returns the world
    and this rank's device (``cuda:LOCAL_RANK`` when training on CUDA)."""
    if not launched() or int(os.environ["WORLD_SIZE"]) == 1:
        return World(), device
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                  int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            # Each process takes the GPU of its local rank, so each must see all the node's GPUs.
            raise ConfigError(f"torchrun started local rank {world.local_rank}, but this process sees "
                              f"{torch.cuda.device_count()} CUDA device(s); start at most that many "
                              "processes per node (--nproc_per_node), let every process see all of "
                              "the node's GPUs (CUDA_VISIBLE_DEVICES), or set train.device=cpu")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # Before the group exists: torch._dynamo imported later (an optimizer's first step
        # imports it) holds on to the default group, so destroy_process_group left gloo's
        # worker threads running into interpreter shutdown, where one still releasing a
        # tensor aborted the process now and then ("terminate called without an active
        # exception": about 1 run in 30 under load; the core dump showed a gloo worker taking
        # the GIL in Py_FinalizeEx). Imported first, the group is freed and its threads joined.
        importlib.import_module("torch._dynamo")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return world, device


def shutdown(world: World, finished: bool) -> None:
    """Leave the process group, which joins its worker threads (see `init`). A finished rank
    first waits for the others (rank 0 validates and saves after the last step). A failing
    rank does not wait; torchrun stops the others."""
    if world.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def _flag_device() -> torch.device:
    """Where a collective's tensors must live: the current CUDA device under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@contextmanager
def lead(world: World) -> Iterator[None]:
    """Rank 0's setup of the run folder (checks, lock, config): the other ranks wait in
    `follow_main` and learn whether it succeeded, so none trains into a refused folder."""
    ok = False
    try:
        yield
        ok = True
    finally:
        if world.distributed:
            dist.broadcast(torch.tensor([float(ok)], device=_flag_device()), src=0)


# Seconds another process waits, after rank 0's setup failed, before it stops too.
REFUSAL_GRACE_S = 3.0


def follow_main(world: World) -> None:
    """Wait for rank 0's `lead` block; raise if it failed (rank 0 prints why)."""
    flag = torch.zeros(1, device=_flag_device())
    dist.broadcast(flag, src=0)
    if flag.item() != 1:
        # Rank 0 says why once it has left `lead`; the first process to exit makes torchrun stop
        # the others, and when this one exited first rank 0's message was lost (seen under load).
        time.sleep(REFUSAL_GRACE_S)
        raise RunError("rank 0 could not set up the run folder (its own message says why)")


def image_share(world: World, images_per_network: int) -> slice:
    """This rank's slice of the M images of every network."""
    m, k = images_per_network, world.size
    if m % k:
        raise ConfigError(f"train.images_per_noise={m} must be a multiple of the {k} processes "
                          "(each process takes an equal share of every network's images)")
    return slice(world.rank * m // k, (world.rank + 1) * m // k)


def broadcast_parameters(world: World, module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (they are built from the same seed and
    should agree already; this makes it so whatever the initialisers do)."""
    if world.distributed:
        for t in (*module.parameters(), *module.buffers()):
            dist.broadcast(t.data, src=0)


def broadcast_hex(world: World, token: str) -> str:
    """Rank 0's hexadecimal ``token`` (a new run's ``run_id``) on every rank, so each process's
    config is the folder's."""
    if not world.distributed:
        return token
    t = torch.tensor(list(bytes.fromhex(token)), dtype=torch.uint8, device=_flag_device())
    dist.broadcast(t, src=0)
    return bytes(t.cpu().tolist()).hex()


def broadcast_float(world: World, value: float) -> float:
    """Rank 0's ``value`` on every rank (a setting measured on each, as ``lam: auto``)."""
    if not world.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_flag_device())
    dist.broadcast(t, src=0)
    return float(t.item())


def average_gradients(world: World, params: list[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the ranks: one all-reduce of one flat buffer.
    Which parameters have a gradient does not depend on the images, so it is the same set on
    every rank; those without one stay without (Adam skips them, as in one process)."""
    if not world.distributed:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)  # gloo has no AVG; sum, then divide
    flat /= world.size
    for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(avg)


def average(world: World, t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over the ranks (the logged scalars: each rank's share of the images)."""
    if not world.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / world.size


# Added to train.seed (times the rank) for ranks after the first; far from the trainer's own
# offsets (seed + 1, + 2, + 3 and calibration's) so no two generators share a seed.
OWN_DRAWS_OFFSET = 7_919


def _in_group() -> bool:
    """Whether this process trains in a process group (a method holds no `World`)."""
    return dist.is_available() and dist.is_initialized()


def process_rank() -> int:
    """This process's rank under torchrun, else 0: for a method's own per-process draws."""
    return dist.get_rank() if _in_group() else 0


def batch_variance(y: torch.Tensor) -> torch.Tensor:
    """The unbiased variance of ``y`` (detached) over every process's share of the batch:
    under torchrun one share's variance is not the batch's (and is NaN for a share of one)."""
    y = y.detach()
    if not _in_group() or dist.get_world_size() == 1:
        return y.var()
    flat = y.double().flatten()
    # The count made on the device: new_tensor copied it from the host, a sync every step.
    sums = torch.stack([torch.full((), flat.numel(), dtype=flat.dtype, device=flat.device), flat.sum()])
    dist.all_reduce(sums)
    n, mean = sums[0], sums[1] / sums[0]
    # Two passes, as torch's var: Σy² − (Σy)²/n would cancel for targets far from 0.
    squares = (flat - mean).pow(2).sum()
    dist.all_reduce(squares)
    return (squares / (n - 1)).to(y.dtype)


def seed_own_draws(world: World, seed: int) -> None:
    """Give every rank after the first its own stream of torch's global generators (the CPU's
    and CUDA's), which a target's own dropout layers draw from. Seeded alike, as the session
    seeds them, every rank would draw the same masks for its share of the images, and the ranks'
    shares would be correlated. Rank 0 keeps the one-process stream."""
    if world.rank > 0:
        torch.manual_seed(seed + OWN_DRAWS_OFFSET * world.rank)


def global_rng_states(world: World, device: torch.device) -> dict[str, torch.Tensor]:
    """The global generator states of ranks 1 … K−1, gathered for rank 0's checkpoint
    (`hyperzoo.runs.save_checkpoint`'s ``process_rng``): ``{"rank1.torch_global": …,
    "rank1.cuda": …}`` (``cuda``: the rank's own device, on CUDA), CPU tensors. Rank 0's own are
    saved as in one process; empty in one process. A collective: every rank calls it."""
    if not world.distributed:
        return {}
    parts = {GLOBAL_RNG: torch.get_rng_state()}
    if device.type == "cuda":
        parts["cuda"] = torch.cuda.get_rng_state(device)
    comm = _flag_device()
    out: dict[str, torch.Tensor] = {}
    for key, state in parts.items():
        gathered = [torch.empty_like(state, device=comm) for _ in range(world.size)]
        dist.all_gather(gathered, state.to(comm))
        out.update({f"rank{r}.{key}": g.cpu() for r, g in enumerate(gathered) if r > 0})
    return out
