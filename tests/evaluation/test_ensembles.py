import pytest
import torch

from hyperzoo.evaluation import ensemble_metrics, predict_proba
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet


def test_metrics_on_a_hand_made_case():
    # 3 networks, 2 examples, 2 classes; labels [0, 1].
    probs = torch.tensor([[[0.9, 0.1], [0.6, 0.4]],
                          [[0.4, 0.6], [0.2, 0.8]],
                          [[0.8, 0.2], [0.45, 0.55]]])
    m = ensemble_metrics(probs, torch.tensor([0, 1]))
    assert m["mean_accuracy"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert m["min_accuracy"] == 0.5 and m["max_accuracy"] == 1.0
    assert m["ensemble_accuracy"] == 1.0  # mean probs [0.7, 0.3] and [0.417, 0.583]
    assert m["majority_accuracy"] == 1.0  # votes 2:1 for class 0, then 2:1 for class 1
    assert m["n_networks"] == 3


def test_chunked_prediction_equals_one_call():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    w = {k: torch.randn(5, *s) * 0.3 for k, s in target.param_shapes.items()}
    x = torch.rand(13, 1, 8, 8)
    full = target(w, x).softmax(-1)
    torch.testing.assert_close(predict_proba(target, w, x, max_pairs=6), full)
    assert predict_proba(target, w, x).shape == (5, 13, 10)


def test_few_networks_are_evaluated_in_chunks_of_at_most_image_chunk_images():
    from hyperzoo.evaluation.ensembles import IMAGE_CHUNK

    target = TargetNet(DigitsNet(), (1, 8, 8))
    w = {k: torch.randn(2, *s) * 0.3 for k, s in target.param_shapes.items()}
    x = torch.rand(2 * IMAGE_CHUNK + 5, 1, 8, 8)
    sizes: list[int] = []

    def spy(weights, images):
        sizes.append(len(images))
        return target(weights, images)

    probs = predict_proba(spy, w, x)  # type: ignore[arg-type]
    assert sizes == [IMAGE_CHUNK, IMAGE_CHUNK, 5]
    torch.testing.assert_close(probs, target(w, x).softmax(-1))


def test_progress_on_the_cpu_comes_every_cpu_group_networks():
    from hyperzoo.evaluation.ensembles import CPU_GROUP

    target = TargetNet(DigitsNet(), (1, 8, 8))
    n = 2 * CPU_GROUP + 3
    w = {k: torch.randn(n, *s) * 0.3 for k, s in target.param_shapes.items()}
    done: list[int] = []
    probs = predict_proba(target, w, torch.rand(20, 1, 8, 8), progress=done.append)
    assert done == [CPU_GROUP, 2 * CPU_GROUP, n] and probs.shape == (n, 20, 10)
    done.clear()  # vmap batches the networks of a group: the group stays whole
    vmapped = TargetNet(DigitsNet(), (1, 8, 8), backend="vmap")
    torch.testing.assert_close(predict_proba(vmapped, w, torch.rand(20, 1, 8, 8), progress=done.append).shape,
                               probs.shape)
    assert done == [n]


def test_nothing_to_predict_is_one_clear_error():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
    with pytest.raises(ValueError, match=r"nothing to predict: 2 networks on 0 inputs"):
        predict_proba(target, w, torch.rand(0, 1, 8, 8))


def test_the_ensemble_mean_of_half_precision_networks_is_taken_in_float32():
    from hyperzoo.evaluation.predictions import mean_prediction

    probs = torch.rand(200, 100, 10, generator=torch.Generator().manual_seed(0)).softmax(-1)
    half = probs.bfloat16()
    exact = half.double().mean(0)  # the mean of the very values passed, without rounding
    assert mean_prediction(half).dtype == torch.float32
    assert (mean_prediction(half).double() - exact).abs().max() < 1e-6
    assert (half.mean(0).double() - exact).abs().max() > 1e-5  # what a bf16 mean rounds away
    m = ensemble_metrics(half, torch.zeros(100, dtype=torch.long))
    assert m["ensemble_nll"] == pytest.approx(
        -exact[:, 0].clamp_min(1e-12).log().mean().item(), rel=1e-6)
