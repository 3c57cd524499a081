import shlex

import pytest
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
    r = runner.invoke(app, ["sample", str(run), "-n", "1", "--out", str(tmp_path / "nets")])
    assert r.exit_code == 0 and "wrote 1 network to" in r.output  # an earlier export, replaced
    app_dir = tmp_path / "app"  # a user's own manifest.json was replaced
    app_dir.mkdir()
    (app_dir / "manifest.json").write_text('{"name": "my app"}')
    one_error_line(runner.invoke(app, ["sample", str(run), "-n", "1", "--out", str(app_dir)]),
                   "holds a manifest.json that is not an export's")
    assert (app_dir / "manifest.json").read_text() == '{"name": "my app"}'
    r = runner.invoke(app, ["evaluate", str(run), "--networks", "3", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "ensemble (mean prob.)" in r.output and "3 (checkpoint of step 3)" in r.output
    assert "NLL (single / ensemble)" in r.output and "ECE, 15 bins" in r.output and "disagreement" in r.output
    assert (run / "metrics-test.json").is_file() and (run / "reliability-test.png").is_file()
    # A run folder as --out for other files is named as one (the refusal named its hidden .lock).
    for command in (["sample", "-n", "1"], ["report"], ["ood", "--outliers", "x"]):
        one_error_line(runner.invoke(app, [command[0], str(run), *command[1:], "--out", str(run)]),
                       f"--out {run} is a run folder; give a new")
    # An interrupted run's checkpoint is said to be one (it read as a finished run's).
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 3", "steps: 5"))
    r = runner.invoke(app, ["evaluate", str(run), "--networks", "3", "--quiet", "--split", "val"])
    assert r.exit_code == 0, r.output
    assert "3 (checkpoint of step 3; the run is unfinished, at step 3 of 5)" in r.output


def test_evaluate_records_itself_in_the_run_folder_it_wrote_into(tmp_path, monkeypatch):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"])
    assert r.exit_code == 0, r.output
    trained = (run / "command.txt").read_text()
    for argv in (["evaluate", str(run), "--networks", "2", "--quiet"],
                 ["evaluate", str(run), "--networks", "2", "--quiet", "--out", str(tmp_path / "m.json")]):
        monkeypatch.setattr("sys.argv", ["hyperzoo", *argv])  # what the command line would hold
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, r.output
    # The first wrote its metrics into the run folder, the second elsewhere: only the first counts.
    assert (run / "command.txt").read_text() == trained + f"hyperzoo evaluate {run} --networks 2 --quiet\n"
    assert not (tmp_path / "command.txt").exists()


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


def test_ood_prints_both_scores_and_the_positive_class_and_records_its_command(tmp_path, monkeypatch):
    import numpy as np

    from tests.test_workflows import write_idx_folder

    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    noise = np.random.default_rng(0).integers(0, 256, (30, 8, 8))
    write_idx_folder(tmp_path / "noise" / "notmnist-small", noise)
    argv = ["ood", "--quiet", str(run), "--outliers", "notmnist", "--networks", "3",
            "--data-dir", str(tmp_path / "noise"), "--out", str(tmp_path / "o")]
    monkeypatch.setattr("sys.argv", ["hyperzoo", *argv])
    r = runner.invoke(app, argv)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "command.txt").read_text() == shlex.join(["hyperzoo", *argv]) + "\n"
    lines = r.output.strip().splitlines()
    assert lines[0] == "digits vs notmnist, 3 networks, positive class: outliers (notmnist)"
    assert lines[1].startswith("  by entropy: AUROC ")
    assert lines[2].startswith("  by mutual information: AUROC ")
    assert len(lines) == 3  # it wrote, so no note that it did not
    r = runner.invoke(app, argv[:-2])
    assert r.exit_code == 0, r.output
    assert "nothing written" not in r.stdout and r.stderr == (
        "(printed only, nothing written: --out DIR writes ood.json and ood_cdf.png)\n")


def one_error_line(r, match):
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], r.output


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("train:\n  steps: [1,\n")
    one_error_line(runner.invoke(app, ["train", str(bad_yaml), "--out", str(tmp_path / "x")]),
                   "is not valid YAML")
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["train", *sets("train.steps=1"), "--out", str(tmp_path / "file" / "r")])
    one_error_line(r, "file is a file, not a folder")  # before the session is built
    one_error_line(runner.invoke(app, ["train", "--set", "train.checkpoint_every=0", "--out",
                                       str(tmp_path / "y")]), "train.checkpoint_every")
    assert not (tmp_path / "y").exists()
    data = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").write_bytes(data[:100])
    one_error_line(runner.invoke(app, ["evaluate", str(run), "--networks", "2", "--quiet"]),
                   "cannot be read as safetensors")
    (run / "checkpoint.safetensors").write_bytes(data)

    import hyperzoo.workflows as wf

    def bug(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(wf, "evaluate_run", bug)
    r = runner.invoke(app, ["evaluate", str(run), "--quiet"])
    assert isinstance(r.exception, ValueError)  # not turned into a one-line "error:"


def test_a_locked_run_folder_is_one_line(tmp_path):
    from hyperzoo.runs import lock_run

    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 2", "steps: 3"))
    with lock_run(run):
        one_error_line(runner.invoke(app, ["train", "--resume", str(run), "--quiet"]),
                       "is being trained by another process")
    # evaluate and sample do not take the lock: they work while a run trains.
    with lock_run(run):
        assert runner.invoke(app, ["evaluate", str(run), "--networks", "2", "--quiet"]).exit_code == 0


def test_verify(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    r = runner.invoke(app, ["verify", str(run)])
    assert r.exit_code == 0 and "content hash verified" in r.output and r.output.strip().endswith("ok")
    # A run trained on a GPU verifies anywhere (checked on the CPU).
    config = (run / "config.yaml").read_text()
    assert "device: auto" in config
    (run / "config.yaml").write_text(config.replace("device: auto", "device: cuda"))
    assert runner.invoke(app, ["verify", str(run)]).exit_code == 0
    data = bytearray((run / "checkpoint.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (run / "checkpoint.safetensors").write_bytes(bytes(data))
    r = runner.invoke(app, ["verify", str(run)])
    assert r.exit_code == 1
    assert [line for line in r.output.splitlines() if line.startswith("problem:")] == [
        f"problem: {run / 'checkpoint.safetensors'} is corrupt: its content does not match the "
        "SHA-256 in its metadata"]
    r = runner.invoke(app, ["verify", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "is not a hyperzoo run folder" in r.output


def test_trust_code_is_needed_for_an_import_path_in_a_run_folder(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", *sets("train.steps=2", "target.name=tests.helpers:DropoutNet",
                                           "method.diversity=outputs"), "--out", str(run), "--quiet"])
    assert r.exit_code == 0, r.output  # the user's own config may import
    for cmd in (["evaluate", str(run), "--networks", "2", "--quiet"], ["sample", str(run), "-n", "1",
                "--out", str(tmp_path / "nets")], ["verify", str(run)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 1 and "pass --trust-code" in r.output, cmd
        assert runner.invoke(app, [*cmd, "--trust-code"]).exit_code == 0, cmd


def test_config_prints_every_resolved_key_with_help(tmp_path):
    import yaml

    r = runner.invoke(app, ["config", "--set", "method.z_dim=300"])
    assert r.exit_code == 0
    data = yaml.safe_load(r.output)
    assert data["method"]["z_dim"] == 300 and data["method"]["lam"] == 3000.0
    assert data["method"]["gamma"] == 1.0  # the method class's own default
    body = [line for line in r.output.splitlines() if line.startswith("  ")]
    assert body and all(" # " in line for line in body)
    (tmp_path / "c.yaml").write_text(r.output)  # the printout is a config file
    assert runner.invoke(app, ["config", str(tmp_path / "c.yaml")]).output == r.output


def test_polyak_prints_before_and_after_and_refuses_unknown_coordinates(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    r = runner.invoke(app, ["polyak", str(run), "-k", "3", "--out", str(tmp_path / "p.json")])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("digits / test (300 examples), 3 networks: mean single ")
    assert "averaged in gauge coordinates: " in r.output
    assert (tmp_path / "p.json").is_file()
    assert "nothing written" not in r.output
    r = runner.invoke(app, ["polyak", str(run), "-k", "2"])
    assert r.exit_code == 0 and "nothing written" not in r.stdout and r.stderr == (
        "(printed only, nothing written: --out FILE writes these numbers as JSON)\n")
    r = runner.invoke(app, ["polyak", str(run), "--coordinates", "mean"])
    assert r.exit_code == 1 and r.output.strip() == "error: --coordinates 'mean' is not one of 'gauge', 'raw'"


def test_auto_lam_is_refused_by_a_method_without_lam_in_one_line(tmp_path):
    r = runner.invoke(app, ["train", "--set", "method.name=hypergan", "--set", "method.lam=auto",
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "error: method.lam 'auto' is for method 'deutsch' only; method 'hypergan' has no λ"]
    assert not (tmp_path / "run").exists()



def test_out_files_never_replace_what_hyperzoo_did_not_write(tmp_path):
    """evaluate --out and polyak --out replace an earlier result only: a checkpoint, a user's
    file or a folder is refused before any work, and left as it was."""
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    checkpoint = (run / "checkpoint.safetensors").read_bytes()
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    for command in (["evaluate", str(run), "--networks", "2", "--quiet"], ["polyak", str(run), "-k", "2"]):
        one_error_line(runner.invoke(app, [*command, "--out", str(run / "checkpoint.safetensors")]),
                       "exists and is not an earlier hyperzoo result; it is left as it is")
        one_error_line(runner.invoke(app, [*command, "--out", str(notes)]),
                       "is not an earlier hyperzoo result")
        one_error_line(runner.invoke(app, [*command, "--out", str(tmp_path)]), "is a folder; expected a file")
    assert (run / "checkpoint.safetensors").read_bytes() == checkpoint and notes.read_text() == '{"mine": 1}'
    assert not (tmp_path / "reliability-test.png").exists()
    (tmp_path / "n-reliability.png").write_text("mine")  # beside no earlier n.json: not ours
    r = runner.invoke(app, ["evaluate", str(run), "--networks", "2", "--out", str(tmp_path / "n.json")])
    one_error_line(r, "n-reliability.png exists beside no earlier result")
    out = tmp_path / "m.json"
    for _ in range(2):  # a new file, then the earlier result replaced
        r = runner.invoke(app, ["evaluate", str(run), "--networks", "2", "--quiet", "--out", str(out)])
        assert r.exit_code == 0, r.output


def test_data_dir_is_a_path_as_given_and_a_negative_limit_is_refused(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "my data #2"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "blobs.npz", x_train=rng.random((40, 8, 8), dtype=np.float32),
             y_train=np.arange(40) % 3, x_test=rng.random((10, 8, 8), dtype=np.float32),
             y_test=np.arange(10) % 3)
    r = runner.invoke(app, ["train", *sets("train.steps=2", "data.dataset=blobs.npz"),
                            "--data-dir", str(folder), "--out", "run", "--quiet"])
    assert r.exit_code == 0, r.output  # '#' was read as a YAML comment
    r = runner.invoke(app, ["ood", "run", "--outliers", str(folder / "blobs.npz"), "--limit", "-3"])
    one_error_line(r, "--limit must be at least 0 (0: every example), got -3")


def test_ood_and_report_write_only_into_a_new_empty_or_earlier_result_folder(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.npz").write_bytes(b"mine")
    r = runner.invoke(app, ["ood", str(run), "--outliers", "digits", "--networks", "2", "--out", str(mine)])
    one_error_line(r, "holds 'data.npz', which is not part of an earlier")
    one_error_line(runner.invoke(app, ["report", str(run), "--networks", "2", "--out", str(mine)]),
                   "holds 'data.npz', which is not part of an earlier")
    assert sorted(p.name for p in mine.iterdir()) == ["data.npz"]
    photos = tmp_path / "photos"  # a user's PNGs are not figures of a stopped report
    photos.mkdir()
    (photos / "holiday.png").write_bytes(b"mine")
    one_error_line(runner.invoke(app, ["report", str(run), "--networks", "2", "--out", str(photos)]),
                   "holds 'holiday.png', which is not part of an earlier")
    from hyperzoo.report import report_file

    assert all(map(report_file, ["filters_layer2_b.png", "pca_network.png", "paths_run-b.png", "report.md"]))
    import numpy as np

    noise = tmp_path / "noise.npz"
    np.savez(noise, x_test=np.random.default_rng(0).random((20, 8, 8), dtype=np.float32),
             y_test=np.zeros(20, np.int64))
    notes = tmp_path / "notes"  # another tool's report.json is not an earlier report
    notes.mkdir()
    (notes / "report.json").write_text('{"title": "my notes"}')
    (notes / "report.md").write_text("mine")
    one_error_line(runner.invoke(app, ["report", str(run), "--networks", "2", "--out", str(notes)]),
                   "which is not part of an earlier hyperzoo report result")
    assert (notes / "report.md").read_text() == "mine"
    # A user's file named as one of the command's, in a folder hyperzoo never marked: refused
    # (it was overwritten).
    figure = tmp_path / "figure"
    figure.mkdir()
    (figure / "ood_cdf.png").write_bytes(b"mine")
    one_error_line(runner.invoke(app, ["ood", str(run), "--outliers", str(noise), "--networks", "2",
                                       "--out", str(figure)]), "holds 'ood_cdf.png', which is not part of")
    assert (figure / "ood_cdf.png").read_bytes() == b"mine"
    from hyperzoo.workflows import RESULT_MARK

    stopped = tmp_path / "stopped"  # what an ood stopped before ood.json leaves: rerun into it
    stopped.mkdir()
    (stopped / RESULT_MARK).write_text("hyperzoo report\n")  # another command's folder: not ood's
    (stopped / "ood_cdf.png").write_bytes(b"half")
    one_error_line(runner.invoke(app, ["ood", str(run), "--outliers", str(noise), "--networks", "2",
                                       "--out", str(stopped)]), "the results of hyperzoo report, not of ood")
    (stopped / RESULT_MARK).write_text("hyperzoo ood\n")
    (stopped / "ood_cdf.png").write_bytes(b"half")
    r = runner.invoke(app, ["ood", str(run), "--outliers", str(noise), "--networks", "2",
                            "--out", str(stopped)])
    assert r.exit_code == 0, r.output


def test_demo_refuses_a_bad_network_count_before_training(tmp_path):
    """--networks 0 trained (or resumed a long run) and exported before it was refused."""
    one_error_line(runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--networks", "0"]),
                   "--networks must be at least 1, got 0")
    assert not (tmp_path / "d").exists()


def test_a_data_dir_that_is_not_a_folder_is_refused(tmp_path):
    """Mistyped, it was ignored for the embedded digits and recorded in the run's config."""
    wrong = ["--data-dir", str(tmp_path / "x")]
    for argv in (["train", *sets("train.steps=1"), "--out", str(tmp_path / "run"), *wrong],
                 ["evaluate", str(tmp_path / "run"), *wrong]):
        one_error_line(runner.invoke(app, argv), "is not a folder")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_training_says_where_the_run_stands(tmp_path, monkeypatch):
    """It stopped in silence (exit status 130, no word of the checkpoint or of --resume)."""
    import hyperzoo.train

    run = tmp_path / "run"
    r = runner.invoke(app, ["train", *sets("train.steps=4", "train.checkpoint_every=2"), "--out", str(run),
                            "--quiet"])
    assert r.exit_code == 0, r.output

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hyperzoo.train, "train", stopped)
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert r.exit_code == 130
    said = " ".join(r.output.split())
    assert f"interrupted: {run} keeps its checkpoint of step 4" in said
    assert f"continue with: hyperzoo train --resume {run}" in said
    monkeypatch.setenv("WORLD_SIZE", "2")  # started by torchrun: resumed by torchrun
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    said = " ".join(r.output.split())
    assert (f"continue with: torchrun --nproc_per_node=2 --standalone --no-python hyperzoo train --resume "
            f"{run}") in said
    monkeypatch.setenv("RANK", "1")  # every process stops: rank 0 alone says so (it was said twice)
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert r.exit_code == 130 and r.output == ""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("WORLD_SIZE")
    (run / "checkpoint.safetensors").unlink()
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert r.exit_code == 130 and "has no checkpoint yet" in r.output


def test_a_full_disk_in_training_says_where_the_run_stands(tmp_path, monkeypatch):
    """It said "[Errno 28] No space left on device": no file, no checkpoint, no --resume."""
    import errno

    import hyperzoo.train

    run = tmp_path / "run"
    saved = hyperzoo.train.save_checkpoint
    calls = []

    def fills_up(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, f"could not write {run}/checkpoint.safetensors (No space left)")
        return saved(*args, **kwargs)

    monkeypatch.setattr(hyperzoo.train, "save_checkpoint", fills_up)
    r = runner.invoke(app, ["train", *sets("train.steps=4", "train.checkpoint_every=2"), "--out", str(run),
                            "--quiet"])
    one_error_line(r, "No space left")
    said = " ".join(r.output.split())
    assert f"{run} keeps its checkpoint of step 2; continue with: hyperzoo train --resume {run}" in said


@pytest.mark.parametrize(("where", "code", "said"), [
    ("save_checkpoint", "EACCES", "could not write checkpoint.safetensors (Permission denied)"),
    ("write_config", "ENOSPC", "could not write config.yaml (No space left on device)")])
def test_other_write_errors_in_training_get_no_resume_hint(tmp_path, monkeypatch, where, code, said):
    """A permission error is not a full disk, and a folder without config.yaml cannot resume."""
    import errno

    import hyperzoo.train

    def fails(*args, **kwargs):
        raise OSError(getattr(errno, code), said)

    monkeypatch.setattr(hyperzoo.train, where, fails)
    r = runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(tmp_path / "run"), "--quiet"])
    one_error_line(r, said.split("(")[1].rstrip(")"))
    assert "continue with" not in r.output


def test_the_resume_hint_of_a_multi_node_run_names_torchruns_node_flags(tmp_path, monkeypatch):
    from hyperzoo.cli import _where_it_stands

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    said = _where_it_stands(tmp_path, [])
    assert said.endswith(f"continue with: torchrun --nproc_per_node=2 (and its --nnodes/--rdzv flags) "
                         f"--no-python hyperzoo train --resume {tmp_path}")


def test_the_resume_hint_of_a_run_of_an_imported_model_gives_what_the_resume_needs(tmp_path, monkeypatch):
    """It offered `hyperzoo train --resume RUN`, which refuses an import path read from a run
    folder without --trust-code, and cannot import the model without the --import-path given."""
    import hyperzoo.train

    models = tmp_path / "my models"
    models.mkdir()
    (models / "ctrlc_net.py").write_text("from torch import nn\n\nclass Net(nn.Sequential):\n"
                                         "    def __init__(self):\n"
                                         "        super().__init__(nn.Flatten(), nn.Linear(64, 10))\n")
    run = tmp_path / "run"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    real = hyperzoo.train.train
    monkeypatch.setattr(hyperzoo.train, "train", lambda *a, **k: (real(*a, **k), stopped())[1])
    r = runner.invoke(app, ["train", *sets("train.steps=2", "target.name=ctrlc_net:Net"), "--out", str(run),
                            "--import-path", str(models), "--quiet"])
    assert r.exit_code == 130, r.output
    hint = " ".join(r.output.split()).split("continue with: ")[1]
    assert hint == f"hyperzoo train --resume {run} --import-path '{models}' --trust-code"
    monkeypatch.setattr(hyperzoo.train, "train", real)
    r = runner.invoke(app, shlex.split(hint)[1:])  # the hint as a user pastes it
    assert r.exit_code == 1 and "already finished its 2 steps" in r.output  # imported, trusted


def test_an_import_error_inside_the_users_module_is_not_called_a_missing_module(tmp_path, monkeypatch):
    from hyperzoo.config import ConfigError
    from hyperzoo.targets.registry import import_class

    (tmp_path / "needs_dep.py").write_text("import notapkg_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="importing 'needs_dep' failed: No module named 'notapkg_xyz'"):
        import_class("needs_dep:Net")
    with pytest.raises(ConfigError, match="cannot be imported: No module named 'not_here_xyz' .*--import"):
        import_class("not_here_xyz:Net")
    with pytest.raises(ConfigError, match=r"names a file; name its module instead: mymodels:ResCNN with "
                                          r"--import-path models \(or models.mymodels:ResCNN"):
        import_class("models/mymodels.py:ResCNN")


def test_ctrl_c_with_an_unreadable_checkpoint_says_so(tmp_path, monkeypatch):
    """It said 'has no checkpoint yet' of a checkpoint it could not read."""
    import hyperzoo.train

    run = tmp_path / "run"
    assert runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"]).exit_code == 0
    (run / "checkpoint.safetensors").write_bytes(b"not a checkpoint")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hyperzoo.train, "train", stopped)
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert r.exit_code == 130 and "checkpoint cannot be read" in " ".join(r.output.split())


def test_help_piped_to_a_file_keeps_whole_option_names():
    """Without a terminal rich laid help out for 80 columns: '--transfer-netwo…'."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    out = subprocess.run([sys.executable, "-m", "hyperzoo", "report", "--help"], capture_output=True,
                         text=True, env=env, check=True).stdout
    assert "--transfer-networks " in out and "…" not in out


def test_config_says_what_train_would_refuse(tmp_path):
    """`config --set method.name=ensemble` printed noise_batch: 32, which train then refused; an
    unset noise_batch is now the ensemble's size, and another one is refused before training."""
    r = runner.invoke(app, ["config", "--set", "method.name=ensemble"])
    assert r.exit_code == 0 and "noise_batch: 10 " in r.output and "note:" not in r.output
    r = runner.invoke(app, ["config", "--set", "method.name=ensemble", "--set", "train.noise_batch=32"])
    assert ("note: train refuses this config as it stands: method 'ensemble' trains one minibatch per "
            "member: set train.noise_batch=10 or leave it unset (got 32)") in " ".join(r.output.split())


def test_under_torchrun_rank_0_alone_says_config_errors_and_how_the_run_ended(tmp_path, monkeypatch):
    """Each process printed the same config error, and rank 1 its own last line ('done', with no
    validation of its own) beside rank 0's; an error one process alone may meet keeps its rank."""
    import hyperzoo.train

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    r = runner.invoke(app, ["train", "--set", "train.bogus=1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and r.output == ""
    r = runner.invoke(app, ["evaluate", str(tmp_path / "missing")])
    assert r.exit_code == 1 and r.output.startswith("rank 1: error: ")
    monkeypatch.setattr(hyperzoo.train, "train", lambda *a, **k: {"step": 6})
    r = runner.invoke(app, ["train", *sets("train.steps=6"), "--out", str(tmp_path / "y")])
    assert r.exit_code == 0 and r.output == ""


def test_sigterm_in_training_says_where_the_run_stands(tmp_path, monkeypatch):
    """A cluster's preemption, or torchrun stopping rank 0 when another process died, ended the
    run without a word; SIGTERM now says what Ctrl-C says, exit status 143."""
    import os
    import signal

    import hyperzoo.train

    run = tmp_path / "run"
    r = runner.invoke(app, ["train", *sets("train.steps=2"), "--out", str(run), "--quiet"])
    assert r.exit_code == 0, r.output

    def preempted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop training")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(hyperzoo.train, "train", preempted)
    r = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert r.exit_code == 143
    said = " ".join(r.output.split())
    assert f"terminated: {run} keeps its checkpoint of step 2; continue with: hyperzoo train --resume" in said
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is gone with it


@pytest.mark.parametrize("command", [["sample", "-n", "1"], ["evaluate", "--networks", "2"], ["tune-noise"],
                                     ["report"], ["ood", "--outliers", "digits"], ["polyak", "-k", "2"],
                                     ["demo", "--networks", "2"], ["toy", "--steps", "2"],
                                     ["toy-regression", "--steps", "2"]])
def test_every_command_that_computes_takes_threads_and_checks_them_first(tmp_path, command, monkeypatch):
    """Jobs that share cores set --threads 1 on every command (OMP_NUM_THREADS only, before);
    a bad count is one line before anything is read or written."""
    import torch

    run = tmp_path / "run"
    if command[0] in ("demo", "toy", "toy-regression"):
        args = [*command, "--out", str(run)]
    else:
        args = [command[0], str(tmp_path / "missing"), *command[1:]] + (
            ["--out", str(tmp_path / "out")] if command[0] in ("report", "sample") else [])
    one_error_line(runner.invoke(app, [*args, "--threads", "0"]),
                   "--threads must be between 1 and 4096, got 0")
    assert not run.exists() and not (tmp_path / "out").exists()
    counts = []
    monkeypatch.setattr(torch, "set_num_threads", counts.append)
    runner.invoke(app, [*args, "--threads", "3"])  # a missing run, refused after the count is set
    assert counts[:1] == [3]
