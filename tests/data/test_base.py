import pytest
import torch

from hyperzoo.data import DataError, Dataset


def test_dataset_basics():
    d = Dataset(torch.zeros(4, 3, 5, 6), torch.arange(4), "toy", "train", 10)
    assert len(d) == 4 and d.input_shape == (3, 5, 6)
    assert repr(d) == (
        "Dataset(name='toy', split='train', n=4, input_shape=(3, 5, 6), num_classes=10)"
    )
    with pytest.raises(AttributeError):
        d.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (torch.zeros(4), torch.arange(4)),
        (torch.zeros(4, 1, 5, 6, dtype=torch.float64), torch.arange(4)),
        (torch.zeros(4, 1, 5, 6), torch.arange(4, dtype=torch.int32)),
        (torch.zeros(4, 1, 5, 6), torch.arange(3)),
    ],
)
def test_dataset_validates(x, y):
    with pytest.raises(DataError, match="toy/train"):
        Dataset(x, y, "toy", "train", 10)


def test_a_set_without_classes_is_a_regression_set_with_real_targets():
    d = Dataset(torch.zeros(4, 1), torch.zeros(4), "r", "train", 0)
    assert d.task == "regression" and d.input_shape == (1,)
    assert Dataset(torch.zeros(4, 1), torch.arange(4), "c", "train", 4).task == "classification"
    with pytest.raises(DataError, match="y must be float32 .* for regression"):
        Dataset(torch.zeros(4, 1), torch.arange(4), "r", "train", 0)


def test_data_error_is_a_user_error_not_a_value_error():
    """The CLI prints UserErrors as one line; a ValueError is a bug and keeps its traceback."""
    from hyperzoo.errors import UserError

    assert issubclass(DataError, UserError) and not issubclass(DataError, ValueError)


def test_the_random_holdout_is_pinned():
    """A run's validation examples must not move with a torch or numpy release: splitmix64
    (its reference first output for 0) picks them, in integer arithmetic."""
    import numpy as np

    from hyperzoo.data.base import _splitmix64, holdout

    assert int(_splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    train, val = holdout(100, 10, "random")
    assert val.tolist() == [3, 10, 18, 21, 41, 48, 49, 68, 82, 83]
    assert sorted(train.tolist() + val.tolist()) == list(range(100))


@pytest.mark.parametrize("pick", ["last", "random"])
def test_holdout_partitions_the_examples(pick):
    """Train and validation split the examples without overlap (a "last" holdout one short
    leaked a validation example into training unseen)."""
    from hyperzoo.data.base import holdout
    idx = torch.arange(10)
    tr, va = holdout(10, 3, pick)
    tr, va = idx[tr].tolist(), idx[va].tolist()
    assert len(va) == 3 and len(tr) == 7 and sorted(tr + va) == list(range(10))
