"""Run by tests/test_distributed.py under torchrun: one training step's loss and gradients.

For each method named after the output file (tests.helpers.TINY_METHODS), every rank draws the
global batch as the trainer does, keeps its share of the images, runs the method's loss and
backward and averages the gradients; rank 0 saves {method: {"grads", "loss"}} to the file.
"""

import sys

import torch

from hyperzoo import distributed
from hyperzoo.config import load_config
from hyperzoo.devices import resolve_device
from hyperzoo.session import build_session
from hyperzoo.train import batch_loss, calibrate, training_batch
from tests.helpers import method_overrides


def first_step(overrides: list[str], world: distributed.World, device: torch.device
               ) -> tuple[dict[str, torch.Tensor], float]:
    """Per optimizer group's parameters: gradient of its loss, averaged over the ranks; and
    the model loss averaged over the ranks."""
    config = load_config(None, overrides)
    t = config.train
    s = build_session(config, device=device)
    distributed.broadcast_parameters(world, s.method)
    distributed.seed_own_draws(world, t.seed)  # as the trainer does: no method's loss may depend on it
    s.method.train()
    gens = {"noise": torch.Generator().manual_seed(t.seed + 1),
            "data": torch.Generator().manual_seed(t.seed + 2)}
    share = distributed.image_share(world, t.images_per_noise)
    batch = training_batch(s.train_data, t.noise_batch, t.images_per_noise, config, gens["data"], share,
                           device, s.method.probe_size)
    step = int(config.method.get("pretrain_steps", 0))
    out = batch_loss(s.method.training_loss, batch, step, gens["noise"])
    grads = {}
    names = {id(p): k for k, p in s.method.named_parameters()}
    for group, params in s.method.optimizer_groups().items():
        s.method.zero_grad(set_to_none=True)
        out["loss" if group == "model" else f"loss_{group}"].backward(retain_graph=True)
        distributed.average_gradients(world, params)
        grads.update({f"{group}.{names[id(p)]}": p.grad.clone() for p in params if p.grad is not None})
    return grads, distributed.average(world, out["loss"].detach()).item()


if __name__ == "__main__":
    world, device = distributed.init(resolve_device("cpu"))
    # A new run's id is rank 0's on every rank.
    assert distributed.broadcast_hex(world, f"{world.rank:02x}" * 16) == "00" * 16
    # A setting measured on every rank ("lam: auto") is rank 0's in the method and the config.
    auto = load_config(None, [*method_overrides("deutsch"), "method.lam=auto"])
    session = build_session(auto, device=device)
    session.method.probe_lam = lambda *args, **kwargs: 100.0 * (world.rank + 1)
    calibrate(auto, session, world, device)
    assert session.method.config.lam == auto.method["lam"] == 100.0, session.method.config.lam
    results = {}
    for name in sys.argv[2:]:
        grads, loss = first_step(method_overrides(name), world, device)
        results[name] = {"grads": grads, "loss": loss}
    if world.main:
        torch.save(results, sys.argv[1])
    distributed.shutdown(world, finished=True)
