import math

import pytest
import torch

from hyperzoo.analysis.ambiguous import ambiguity, ambiguous_examples


def probs():
    """4 networks, 4 inputs, 3 classes: 0 all agree and are sure; 1 all agree and are unsure
    (uniform); 2 split 2–2 between classes 1 and 2, each sure; 3 split 3–1, each sure."""
    sure = torch.eye(3, dtype=torch.float64)
    uniform = torch.full((3,), 1 / 3, dtype=torch.float64)
    p = torch.empty(4, 4, 3, dtype=torch.float64)
    p[:, 0] = sure[0]
    p[:, 1] = uniform
    p[:, 2] = torch.stack([sure[1], sure[2], sure[2], sure[1]])
    p[:, 3] = torch.stack([sure[0], sure[0], sure[2], sure[0]])
    return p


def test_mutual_information_ranks_disagreement_not_shared_doubt():
    a = ambiguous_examples(probs(), k=4)
    assert a["indices"].tolist() == [2, 3, 0, 1]  # 0 and 1 tie at MI 0: lower index first
    assert a["scores"][0].item() == pytest.approx(math.log(2))
    assert a["votes"][0].tolist() == [0, 2, 2]
    assert a["top2_classes"][0].tolist() == [1, 2] and a["top2_fractions"][0].tolist() == [0.5, 0.5]
    assert a["top2_classes"][1].tolist() == [0, 2] and a["top2_fractions"][1].tolist() == [0.75, 0.25]


def test_entropy_ranks_the_unsure_input_first_and_vote_entropy_ignores_confidence():
    assert ambiguity(probs(), "entropy").argmax().item() == 1
    v = ambiguity(probs(), "vote_entropy")
    assert v[2].item() == pytest.approx(math.log(2)) and v[0].item() == v[1].item() == 0
    assert ambiguous_examples(probs(), k=2, score="vote_entropy")["indices"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="score must be one of"):
        ambiguity(probs(), "variance")


def test_votes_are_shares_of_the_networks_that_voted():
    """A NaN network casts no vote; dividing by all N made agreeing voters look split."""
    sure = torch.eye(3, dtype=torch.float64)
    nan = torch.full((3,), float("nan"), dtype=torch.float64)
    p = torch.stack([torch.stack([sure[0], sure[0]]), torch.stack([sure[0], sure[1]]),
                     torch.stack([nan, sure[2]])])  # (3 networks, 2 inputs, 3 classes)
    scores = ambiguity(p, "vote_entropy")
    assert scores[0].item() == 0.0  # two voters, both class 0
    assert scores[1].item() == pytest.approx(-3 * (1 / 3) * math.log(1 / 3))
    fractions = ambiguous_examples(p, 2, "vote_entropy")["top2_fractions"]  # input 1, then input 0
    assert fractions[0].tolist() == pytest.approx([1 / 3, 1 / 3]) and fractions[1].tolist() == [1.0, 0.0]
