"""Predictions of N networks and the accuracy of single networks vs their ensembles."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.nll import nll
from hyperzoo.evaluation.predictions import majority, mean_prediction, predicted
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch, batch_size, select

# Images per network call in `predict`. 20 Deutsch MNIST networks on the 10,000 test images ran
# at 0.579 +- 0.018 of the matmul peak in calls of 256 against 0.438 +- 0.019 in calls of 1,024
# (3 interleaved rounds, AVX-512 Xeon, 2 threads; 64-512: 0.51-0.56;
# bench/results/chunking_cpu_avx512_rounds.json). Likely (not measured): more of a call's
# activations stay in cache between layers (conv1's output: 25 MB at 256 images, 103 at 1,024).
IMAGE_CHUNK = 256
CPU_GROUP = 16  # networks per progress report on the CPU (`predict`)


@torch.no_grad()
def predict_proba(target: TargetNet, weights: WeightBatch, x: torch.Tensor,
                  max_pairs: int = 16384, progress=None, image_chunk: int = IMAGE_CHUNK) -> torch.Tensor:
    """Class probabilities of every network on every input: ``(N, B, C)``.

    Work is chunked so at most ``max_pairs`` (network, image) pairs are in flight, which
    bounds activation memory for large ensembles. Inputs move chunk by chunk to the weights'
    device; the probabilities come back on the CPU.
    """
    return predict(target, weights, x, max_pairs, progress, probabilities=True, image_chunk=image_chunk)


@torch.no_grad()
def predict(target: TargetNet, weights: WeightBatch, x: torch.Tensor, max_pairs: int = 16384,
            progress=None, probabilities: bool = False, image_chunk: int = IMAGE_CHUNK) -> torch.Tensor:
    """Outputs of every network on every input, ``(N, B, K)``, chunked as in `predict_proba`
    (which is this with ``probabilities``: a softmax over K), at most ``image_chunk`` images
    per network call."""
    device = next(iter(weights.values())).device
    n = batch_size(weights)
    if n == 0 or len(x) == 0:  # torch.cat of no outputs gave an error naming neither
        raise ValueError(f"nothing to predict: {n} networks on {len(x)} inputs (each must be at least 1)")
    # At most image_chunk images per network call, however few the networks: calls of 8,192
    # images (0.8 GB of activations for the Deutsch MNIST net) ran erratically, at 0.15-0.66
    # of peak (bench/results/chunking_cpu.json).
    nets = max(1, min(n, max_pairs // max(1, min(len(x), image_chunk))))
    images = max(1, min(image_chunk, max_pairs // nets))
    if device.type == "cpu" and getattr(target, "backend", None) in ("auto", "loop"):
        # The loop calls one network at a time whatever the group, so the group only sets how
        # often `progress` hears: every CPU_GROUP networks, not every 64.
        nets = min(nets, CPU_GROUP)
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
    lowest class index. An output holding NaN (a diverged network) is a miss: for its network,
    and for the ensemble's mean, which it makes NaN; it gets no vote.
    """
    n = probs.shape[0]
    acc = (predicted(probs) == y).double().mean(1)  # (N,)
    mean_probs = mean_prediction(probs)
    return {
        "n_networks": n,
        "mean_accuracy": acc.mean().item(),
        "std_accuracy": acc.std().item() if n > 1 else 0.0,
        "min_accuracy": acc.min().item(),
        "max_accuracy": acc.max().item(),
        "ensemble_accuracy": (predicted(mean_probs) == y).double().mean().item(),
        "majority_accuracy": (majority(probs) == y).double().mean().item(),
        "ensemble_nll": nll(mean_probs, y).item(),
    }
