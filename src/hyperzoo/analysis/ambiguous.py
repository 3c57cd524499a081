"""The inputs on which sampled networks disagree most (seed 002 Fig. 7, top row).

Seed 002 shows "MNIST images which HyperGAN networks predict to have high entropy". Three
scores of an input from the predictions ``probs`` (N, B, C) of N networks: ``entropy`` of the
mean prediction (the seed's; high also where every network is unsure alike),
``mutual_information`` (that entropy minus the networks' mean entropy: their disagreement),
and ``vote_entropy`` (entropy of the histogram of the networks' argmax votes), all in nats.
"""

from __future__ import annotations

import torch

from hyperzoo.evaluation import predictions
from hyperzoo.evaluation.entropy import entropy
from hyperzoo.evaluation.mutual_information import mutual_information

SCORES = ("mutual_information", "entropy", "vote_entropy")


def vote_counts(probs: torch.Tensor) -> torch.Tensor:
    """How many of the N networks vote for each class: (N, B, C) → (B, C); a NaN network votes
    for none."""
    return predictions.vote_counts(probs)


def vote_shares(votes: torch.Tensor) -> torch.Tensor:
    """Votes (B, C) as shares of the networks that voted (a NaN network casts none, and
    counting it made agreeing voters look split); NaN where none did."""
    return votes.double() / votes.sum(-1, keepdim=True)


def ambiguity(probs: torch.Tensor, score: str = "mutual_information") -> torch.Tensor:
    """The ``score`` (one of ``SCORES``) of every input: (N, B, C) → (B,)."""
    if score == "mutual_information":
        return mutual_information(probs)
    if score == "entropy":
        return entropy(probs.mean(0))
    if score == "vote_entropy":
        return entropy(vote_shares(vote_counts(probs)))
    raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")


def ambiguous_examples(probs: torch.Tensor, k: int, score: str = "mutual_information"
                       ) -> dict[str, torch.Tensor]:
    """The ``k`` inputs with the highest ``score``, highest first (ties: lower index first).

    Returns ``indices`` (k,), ``scores`` (k,), ``votes`` (k, C) and the two classes with the
    most votes, ``top2_classes`` (k, 2), with their share of the votes ``top2_fractions``."""
    s = ambiguity(probs, score)
    k = min(k, s.numel())
    order = torch.sort(-s, stable=True).indices[:k]
    votes = vote_counts(probs)[order]
    # ties among classes: the lower class first
    top = torch.sort(-votes, dim=-1, stable=True).indices[:, :2]
    return {"indices": order, "scores": s[order], "votes": votes, "top2_classes": top,
            "top2_fractions": vote_shares(votes).gather(1, top)}
