"""Area under the risk–coverage curve (selective prediction, Geifman et al. 2019)."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs
from hyperzoo.evaluation.predictions import predicted


def aurc(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AURC of abstaining on the least confident inputs first, confidence = max probability.

    ``probs`` (..., B, C), ``labels`` (B,) → (...). Inputs are sorted by confidence, most confident
    first; the risk at coverage k/B is the error rate of the k most confident, and AURC is its
    mean over k = 1..B (lower is better; a perfect ranking of a classifier with error rate e gives
    about e + (1 − e) log(1 − e), never less). Tied confidences are taken in random order in
    expectation: within a run of ties the errors are spread evenly, so the value does not depend on
    how the sort breaks ties (float32 softmax saturates at 1.0 on many inputs). A network with a
    NaN output (diverged) gets NaN, as NLL, Brier and ECE do.
    """
    check_probs(probs, labels)
    conf = probs.max(-1).values  # NaN where a row holds NaN
    err = (predicted(probs) != labels).to(torch.float64)  # a NaN row is a miss, not class 0
    flat_conf, flat_err = conf.reshape(-1, conf.shape[-1]), err.reshape(-1, err.shape[-1])
    out = torch.stack([_aurc_1d(c, e) for c, e in zip(flat_conf, flat_err, strict=True)])
    return out.reshape(conf.shape[:-1]).to(probs.dtype)


def _aurc_1d(conf: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
    if bool(conf.isnan().any()):  # no ranking of confidences to score
        return err.new_tensor(float("nan"))
    order = conf.argsort(descending=True)
    conf, err = conf[order], err[order]
    _, counts = torch.unique_consecutive(conf, return_counts=True)
    # (B,) the tie group of each input
    group = torch.repeat_interleave(torch.arange(len(counts), device=conf.device), counts)
    group_err = err.new_zeros(len(counts)).index_add_(0, group, err)
    before = group_err.cumsum(0) - group_err  # errors in the more confident groups
    start = counts.cumsum(0) - counts
    k = torch.arange(1, len(conf) + 1, dtype=err.dtype, device=conf.device)  # coverage in inputs
    # Expected errors among the first j of a tie group of size n holding e errors: j e / n.
    within = k - start[group].to(err.dtype)
    cum_err = before[group] + within * group_err[group] / counts[group].to(err.dtype)
    return (cum_err / k).mean()
