"""Predictions of N networks and the accuracy of single networks vs their ensembles."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.nll import nll
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch, batch_size, select

IMAGE_CHUNK = 1024  # images per network call in `predict`


@torch.no_grad()
def predict_proba(target: TargetNet, weights: WeightBatch, x: torch.Tensor,
                  max_pairs: int = 16384, progress=None) -> torch.Tensor:
    """Class probabilities of every network on every input: ``(N, B, C)``.

    Work is chunked so at most ``max_pairs`` (network, image) pairs are in flight, which
    bounds activation memory for large ensembles. Inputs move chunk by chunk to the weights'
    device; the probabilities come back on the CPU.
    """
    return predict(target, weights, x, max_pairs, progress, probabilities=True)


@torch.no_grad()
def predict(target: TargetNet, weights: WeightBatch, x: torch.Tensor, max_pairs: int = 16384,
            progress=None, probabilities: bool = False) -> torch.Tensor:
    """Outputs of every network on every input, ``(N, B, K)``, chunked as in `predict_proba`
    (which is this with ``probabilities``: a softmax over K)."""
    device = next(iter(weights.values())).device
    n = batch_size(weights)
    # At most 1,024 images per network call: with fewer networks than max_pairs // 1024 the
    # chunks used to grow to 8,192 images, whose activations (0.8 GB for the Deutsch MNIST net)
    # ran erratically, at 0.15-0.66 of peak, against 0.58-0.64 in chunks of 256-2,048
    # (bench/chunking.py).
    nets = max(1, min(n, max_pairs // max(1, min(len(x), IMAGE_CHUNK))))
    images = max(1, min(IMAGE_CHUNK, max_pairs // nets))
    rows = []
    for i in range(0, n, nets):
        part = select(weights, slice(i, i + nets))
        rows.append(torch.cat([_out(target(part, x[j:j + images].to(device)), probabilities).cpu()
                               for j in range(0, len(x), images)], dim=1))
        if progress is not None:
            progress(min(i + nets, n))
    return torch.cat(rows)


def _out(outputs: torch.Tensor, probabilities: bool) -> torch.Tensor:
    return outputs.softmax(-1) if probabilities else outputs


def ensemble_metrics(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy of each network and of the whole ensemble.

    ``probs`` (N, B, C) and labels ``y`` (B,). Majority vote breaks ties toward the
    lowest class index.
    """
    n, _, c = probs.shape
    correct = probs.argmax(-1) == y  # (N, B)
    acc = correct.double().mean(1)
    votes = torch.nn.functional.one_hot(probs.argmax(-1), c).sum(0)  # (B, C)
    mean_probs = probs.mean(0)
    return {
        "n_networks": n,
        "mean_accuracy": acc.mean().item(),
        "std_accuracy": acc.std().item() if n > 1 else 0.0,
        "min_accuracy": acc.min().item(),
        "max_accuracy": acc.max().item(),
        "ensemble_accuracy": (mean_probs.argmax(-1) == y).double().mean().item(),
        "majority_accuracy": (votes.argmax(-1) == y).double().mean().item(),
        "ensemble_nll": nll(mean_probs, y).item(),
    }
