import math

import pytest
import torch

from hyperzoo.analysis.adversarial import fgsm
from hyperzoo.analysis.adversarial_detection import detect_adversarial, detection_rate
from hyperzoo.targets import TargetNet


def test_untargeted_fgsm_on_a_linear_model_moves_against_the_true_class():
    w = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 2.0, -0.5]], dtype=torch.float64)
    x = torch.full((2, 3), 0.5, dtype=torch.float64)
    label = torch.zeros(2, dtype=torch.long)  # raising the loss of class 0 lowers logit 0 − logit 1
    adv = fgsm(lambda v: v @ w.t(), x, label, eps=0.1, targeted=False)
    torch.testing.assert_close(adv - x, -0.1 * w[0].sign().expand(2, 3))


def test_detection_rate_at_a_threshold_from_clean_scores():
    clean = torch.arange(100.0)  # 5 of them above 94
    assert detection_rate(clean, torch.tensor([94.0, 95.0, 200.0, 0.0])) == 0.5
    assert detection_rate(clean, clean) == pytest.approx(0.05)
    # The clean scores flagged are at most fpr of them for every count, ties included (an
    # interpolated quantile flagged 2 of 30, and 1 of 10, at 5%).
    for b in range(1, 61):
        for scores in (torch.randperm(b).double(), torch.randint(0, 3, (b,)).double()):
            flagged = detection_rate(scores, scores) * b
            assert flagged <= 0.05 * b + 1e-9
            assert flagged == pytest.approx(math.floor(0.05 * b)) or scores.unique().numel() < b
    assert detection_rate(torch.arange(100.0), torch.arange(100.0), fpr=0.29) == pytest.approx(0.29)
    with pytest.raises(ValueError, match="fpr"):
        detection_rate(clean, clean, fpr=0)


def test_attacks_raise_the_entropy_of_a_disagreeing_ensemble():
    torch.manual_seed(0)
    net = TargetNet(torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)),
                    (2,))
    x = torch.rand(300, 2)  # pixels in [0, 1], where the attacks clip
    y = (x[:, 0] > 0.5).long()
    # Ten networks fitted to the same labels from different initialisations.
    weights = {k: [] for k in net.param_shapes}
    for seed in range(10):
        torch.manual_seed(seed)
        m = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        opt = torch.optim.Adam(m.parameters(), lr=0.05)
        for _ in range(150):
            loss = torch.nn.functional.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for k, v in m.state_dict().items():
            weights[k].append(v)
    w = {k: torch.stack(v) for k, v in weights.items()}
    out = detect_adversarial(net, w, w, x, y, eps=0.2, attack="pgd", pgd_steps=5)
    assert out["error_attacked_ensemble"] > 0.1
    assert out["mean_entropy_adversarial"] > out["mean_entropy_clean"]
    assert out["auroc"] > 0.5
    # The clean probabilities made once by the caller for both attacks: the same numbers; and a
    # fixed set scoring on itself (the same prediction made once) as another set of its copies.
    from hyperzoo.evaluation import predict_proba

    given = detect_adversarial(net, w, w, x, y, eps=0.2, attack="pgd", pgd_steps=5,
                               p_clean=predict_proba(net, w, x))
    copies = detect_adversarial(net, w, {k: v.clone() for k, v in w.items()}, x, y, eps=0.2, attack="pgd",
                                pgd_steps=5)
    assert given == out == copies
    # Scoring networks other than the attacked: the attacked ensemble's error is its own
    # prediction on the adversarial images (a mutation scoring it on the others survived).
    other = {k: v.flip(0) if k.startswith("0.") else v for k, v in w.items()}  # first layers swapped
    three = {k: v[:3] for k, v in w.items()}
    small = detect_adversarial(net, three, other, x, y, eps=0.2, attack="fgsm")
    adv = fgsm(lambda v: net(three, v).mean(0), x, y, 0.2, 0.0, 1.0, targeted=False)
    fooled = (predict_proba(net, three, adv).mean(0).argmax(-1) != y).double().mean()
    assert small["error_attacked_ensemble"] == fooled.item()
    scored = (predict_proba(net, other, adv).mean(0).argmax(-1) != y).double().mean().item()
    assert small["error_scoring_ensemble"] == scored != fooled.item()
    with pytest.raises(ValueError, match="attack"):
        detect_adversarial(net, w, w, x, y, eps=0.1, attack="cw")


def test_a_nan_score_gives_no_detection_rate():
    """A threshold from clean scores holding NaN is NaN, and nothing compares above it: 0%."""
    assert math.isnan(detection_rate(torch.tensor([0.1, float("nan")]), torch.tensor([0.9, 0.8])))
    assert detection_rate(torch.tensor([0.1, 0.2]), torch.tensor([0.9, 0.0])) == 0.5
