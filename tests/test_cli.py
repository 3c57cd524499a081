from typer.testing import CliRunner

from hyperzoo.cli import app
from tests.helpers import TINY

runner = CliRunner()


def sets(*extra: str) -> list[str]:
    return [arg for kv in (*TINY, *extra) for arg in ("--set", kv)]


def test_train_sample_evaluate(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", *sets("train.steps=3"), "--out", str(run), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "validation accuracy" in r.output
    r = runner.invoke(app, ["sample", str(run), "-n", "2", "--out", str(tmp_path / "nets")])
    assert r.exit_code == 0 and "wrote 2 networks" in r.output
    r = runner.invoke(app, ["evaluate", str(run), "--networks", "3", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "ensemble (mean prob.)" in r.output
    assert "NLL (single / ensemble)" in r.output and "ECE, 15 bins" in r.output and "disagreement" in r.output
    assert (run / "metrics-test.json").is_file() and (run / "reliability-test.png").is_file()


def test_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["train", "--set", "train.stpes=3", "--out", str(tmp_path)])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "error: unknown config key 'train.stpes'; expected one of " + r.output.split("of ", 1)[1].strip()]
    r = runner.invoke(app, ["evaluate", str(tmp_path / "missing")])
    assert r.exit_code == 1 and "is not a hyperzoo run folder" in r.output
    r = runner.invoke(app, ["train", "--set", "data.dataset=mnist", "--out", str(tmp_path / "m")])
    assert r.exit_code == 1 and "needs --data-dir" in r.output
    r = runner.invoke(app, ["train"])
    assert r.exit_code == 1 and "exactly one of --out" in r.output


def test_ood_prints_both_scores_and_the_positive_class(tmp_path):
    import numpy as np

    from tests.test_workflows import write_idx_folder

    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    noise = np.random.default_rng(0).integers(0, 256, (30, 8, 8))
    write_idx_folder(tmp_path / "noise" / "notmnist-small", noise)
    r = runner.invoke(app, ["ood", str(run), "--outliers", "notmnist", "--networks", "3",
                            "--data-dir", str(tmp_path / "noise"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0] == "digits vs notmnist, 3 networks, positive class: outliers (notmnist)"
    assert lines[1].startswith("  by entropy: AUROC ")
    assert lines[2].startswith("  by mutual information: AUROC ")
