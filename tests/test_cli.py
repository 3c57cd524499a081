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
    assert (run / "metrics-test.json").is_file()


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
