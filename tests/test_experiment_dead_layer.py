"""experiments/dead_layer.py's reading of a run (the trainer's activity trace) and its figure, on a
tiny digits run whose ReLU never fires."""

from hyperzoo.train import train
from tests.helpers import load_experiment, tiny_config


def test_trace_reads_every_validation_and_the_figure_is_drawn(tmp_path):
    config = tiny_config("train.steps=6", "target.name=tests.helpers:SilentNet")
    train(config, tmp_path / "run", progress=False)
    script = load_experiment("dead_layer")
    tr = script.trace(tmp_path / "run")
    assert tr["step"] == [3, 6] and tr["active"] == {"3": [0.0, 0.0]}
    assert all(0 <= a <= 1 for a in tr["val_mean_accuracy"])
    script.figure({"silent": tr}, "3", tmp_path / "activity.png")
    assert (tmp_path / "activity.png").stat().st_size > 10_000
