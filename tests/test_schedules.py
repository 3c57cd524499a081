import pytest

from hyperzoo.schedules import geometric_ramp, lr_factor


def test_cosine_goes_from_one_to_min():
    assert lr_factor(0, 100, "cosine", min_factor=0.1) == pytest.approx(1.0)
    assert lr_factor(50, 100, "cosine", min_factor=0.1) == pytest.approx(0.55)
    assert lr_factor(100, 100, "cosine", min_factor=0.1) == pytest.approx(0.1)


def test_warmup_and_step():
    assert lr_factor(0, 100, "constant", warmup=4) == 0.25
    assert lr_factor(25, 100, "step", decay_every=10, decay=0.5) == 0.25
    with pytest.raises(ValueError, match="schedule 'linear'"):
        lr_factor(0, 10, "linear")


def test_geometric_ramp():
    assert geometric_ramp(1, 100.0, 1.0, 2) == pytest.approx(10.0)
    assert geometric_ramp(5, 100.0, 1.0, 2) == 1.0


def test_step_schedule_decays_every_step_as_seed_004():
    # Seed 004: learning rate multiplied by 0.999 every step.
    for step in (0, 1, 500, 2000):
        assert lr_factor(step, 10, "step", decay_every=1, decay=0.999) == pytest.approx(0.999 ** step)


def test_cosine_after_warmup_starts_at_one_and_ends_at_min():
    from hyperzoo.schedules import lr_factor
    assert lr_factor(10, 110, "cosine", warmup=10, min_factor=0.1) == pytest.approx(1.0)
    assert lr_factor(60, 110, "cosine", warmup=10, min_factor=0.1) == pytest.approx(0.55)
    assert lr_factor(110, 110, "cosine", warmup=10, min_factor=0.1) == pytest.approx(0.1)
