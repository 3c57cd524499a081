"""Run folders a user can trust: verified checkpoints, one trainer per folder, durable writes."""

import json
import os
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hyperzoo.runs import (
    CHECKPOINT,
    FORMAT,
    LOCK,
    RunError,
    append_command,
    load_checkpoint,
    lock_run,
    read_checkpoint,
    read_config,
    record_command,
    save_checkpoint,
)
from hyperzoo.session import load_run
from hyperzoo.train import train
from hyperzoo.weights import atomic_write_text, save_tensors
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run"
    train(tiny_config("train.steps=2"), path, argv=["x"], progress=False)
    return path


def copy_run(run, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


def test_checkpoint_records_hash_threads_and_global_rng(run):
    meta, tensors = read_checkpoint(run / CHECKPOINT, max_step=2, full=True)
    assert meta["format"] == FORMAT and len(meta["sha256"]) == 64
    assert meta["threads"] == torch.get_num_threads()
    assert "rng.torch_global" in tensors


@pytest.mark.parametrize("where", [-1, -1000])
def test_flipped_bytes_are_refused(run, tmp_path, where):
    """A flipped byte in the tensor data (the file's end) fails the content hash, naming the file."""
    bad = copy_run(run, tmp_path)
    data = bytearray((bad / CHECKPOINT).read_bytes())
    data[where] ^= 0x01
    (bad / CHECKPOINT).write_bytes(bytes(data))
    with pytest.raises(RunError, match=r"checkpoint.safetensors is corrupt: its content does not match"):
        load_run(bad)


def test_truncated_file_is_one_error(run, tmp_path):
    bad = copy_run(run, tmp_path)
    data = (bad / CHECKPOINT).read_bytes()
    (bad / CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="cannot be read as safetensors"):
        load_run(bad)


def resave(run, tmp_path, step=None, poison=False, **meta_edits):
    """A copy of ``run`` whose checkpoint was re-saved (valid hash) with other contents."""
    bad = copy_run(run, tmp_path)
    session = load_run(bad)
    if poison:
        with torch.no_grad():
            next(session.method.parameters())[0] = float("nan")
    save_checkpoint(bad, session.method, {}, session.checkpoint_step if step is None else step, {},
                    extra=meta_edits)
    return bad


@pytest.mark.parametrize(("step", "match"), [(-5, "step -5 is not an integer of 0 or more"),
                                             (3, "at step 3, beyond config.yaml's train.steps = 2")])
def test_step_outside_the_run_is_refused(run, tmp_path, step, match):
    with pytest.raises(RunError, match=match):
        load_run(resave(run, tmp_path, step=step))


def test_non_finite_parameters_are_refused(run, tmp_path):
    with pytest.raises(RunError, match=r"tensor 'model\..*' holds NaN or infinite values"):
        load_run(resave(run, tmp_path, poison=True))


def test_metadata_edited_by_hand_fails_the_hash(run, tmp_path):
    """Editing the JSON metadata (e.g. the step) without the tensors is caught too."""
    bad = copy_run(run, tmp_path)
    tensors = load_file(str(bad / CHECKPOINT))
    meta, _ = read_checkpoint(bad / CHECKPOINT)
    save_tensors(bad / CHECKPOINT, tensors, {"hyperzoo": json.dumps({**meta, "step": 1})})
    with pytest.raises(RunError, match="is corrupt"):
        load_run(bad)
    # Said to be of the format before hashes: the hash it still holds was not checked.
    save_tensors(bad / CHECKPOINT, tensors, {"hyperzoo": json.dumps({**meta, "step": 1, "format": 2})})
    with pytest.raises(RunError, match="is corrupt"):
        load_run(bad)


@pytest.mark.parametrize("step", ["4", None, -1, True])
def test_a_step_of_the_wrong_type_is_one_error_even_with_a_matching_hash(run, tmp_path, step):
    """The step is read before the tensors are verified (resume, keep_best)."""
    from hyperzoo.runs import content_hash

    bad = copy_run(run, tmp_path)
    tensors = load_file(str(bad / CHECKPOINT))
    meta, _ = read_checkpoint(bad / CHECKPOINT)
    meta = {k: v for k, v in meta.items() if k != "sha256"} | {"step": step}
    signed = {**meta, "sha256": content_hash(tensors, meta)}
    save_tensors(bad / CHECKPOINT, tensors, {"hyperzoo": json.dumps(signed)})
    with pytest.raises(RunError, match=f"its metadata's step {step!r} is not a non-negative integer"):
        train(None, bad, resume=True, argv=["x"], progress=False)


def test_checkpoint_of_another_config_is_one_error(run, tmp_path):
    other = tmp_path / "other"
    train(tiny_config("train.steps=2", "method.z_dim=5"), other, argv=["x"], progress=False)
    shutil.copy(run / CHECKPOINT, other / CHECKPOINT)
    with pytest.raises(RunError, match="belongs to another run"):
        load_run(other)
    # A folder from before run ids: the shapes tell.
    config = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(config.replace(f"run_id: {read_config(other).run_id}", "run_id: null"))
    misfit = r"\(model\.extractor\.0\.weight is \(\d+, \d+\) in the checkpoint, \(\d+, 5\) in the model\)"
    with pytest.raises(RunError, match=r"does not fit the model its config.yaml builds " + misfit):
        load_run(other)


@pytest.mark.parametrize("text", ["", "# a comment only\n", "[1, 2]\n", "data: {}\n", "a: [\n"])
def test_an_emptied_or_broken_config_is_one_line(run, tmp_path, text):
    """An empty config.yaml gave a traceback ('NoneType' has no attribute 'get'); one without its
    target and method was filled in with defaults and built another model."""
    other = tmp_path / "run"
    shutil.copytree(run, other)
    (other / "config.yaml").write_text(text)
    with pytest.raises(RunError, match=r"config.yaml (is empty or lacks|is not readable YAML)"):
        load_run(other)


def test_edited_metrics_lines_are_skipped_with_a_warning(tmp_path, capsys):
    from hyperzoo.runs import read_metrics

    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n[1, 2]\n{"step": "x"}\nnote\n{"step": 2}\n{"st')
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    warned = capsys.readouterr().err
    assert all(f"line {n} is not a logged row" in warned for n in (2, 3, 4)) and "line 6" not in warned


def test_previous_format_still_gives_its_model_but_cannot_resume(run, tmp_path):
    old = copy_run(run, tmp_path)
    tensors = load_file(str(old / CHECKPOINT))
    meta, _ = read_checkpoint(old / CHECKPOINT)
    meta = {k: v for k, v in meta.items() if k not in ("sha256", "threads")} | {"format": 2}
    save_tensors(old / CHECKPOINT, tensors, {"hyperzoo": json.dumps(meta)})
    ref = load_run(run)
    s = load_run(old)
    for a, b in zip(ref.method.parameters(), s.method.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(RunError, match="checkpoint format 2, expected 3"):
        train(None, old, resume=True, argv=["x"], progress=False)


def test_second_trainer_of_a_folder_fails_at_once(run, tmp_path):
    """flock is per open file: a lock held here blocks a trainer in this process as in another."""
    folder = copy_run(run, tmp_path)
    (folder / "config.yaml").write_text((folder / "config.yaml").read_text().replace("steps: 2", "steps: 4"))
    with lock_run(folder):
        with pytest.raises(RunError, match=r"copy is being trained by another process"):
            train(None, folder, resume=True, argv=["x"], progress=False)
        with pytest.raises(RunError, match="being trained by another process"), lock_run(folder):
            pass
    assert (folder / LOCK).exists()
    train(None, folder, resume=True, argv=["x"], progress=False)  # released: it runs


def test_stale_temporaries_are_removed_when_training_resumes_and_nothing_else(run, tmp_path):
    """Only what an interrupted write of the trainer's own files leaves: a user's file named like
    a temporary, another writer's temporary and a folder stay, and do not stop the resume."""
    folder = copy_run(run, tmp_path)
    stale = [folder / ".checkpoint.safetensors.k2_x9abc.tmp", folder / ".metrics.jsonl.a1b2c3d4.tmp"]
    kept = [folder / ".draft.tmp", folder / ".metrics-test.json.a1b2c3d4.tmp", folder / ".notes.abcdefgh.tmp"]
    for p in stale + kept:
        p.write_bytes(b"half a file")
    (folder / ".cache.tmp").mkdir()
    (folder / "config.yaml").write_text((folder / "config.yaml").read_text().replace("steps: 2", "steps: 3"))
    train(None, folder, resume=True, argv=["x"], progress=False)
    assert not any(p.exists() for p in stale)
    assert all(p.read_bytes() == b"half a file" for p in kept) and (folder / ".cache.tmp").is_dir()


def test_a_run_folders_links_are_never_followed_when_writing(run, tmp_path):
    """A run folder may come from anyone: a link in it must not make hyperzoo write elsewhere."""
    from hyperzoo.workflows import evaluate_run

    folder = copy_run(run, tmp_path)
    victims = {name: tmp_path / f"victim-{name}" for name in ("reliability-test.png", "command.txt", LOCK)}
    for name, victim in victims.items():
        victim.write_text("mine")
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(victim)
    evaluate_run(folder, 2, progress=False)  # the figure replaces its link
    assert not (folder / "reliability-test.png").is_symlink()
    with pytest.raises(OSError, match="command.txt is a symbolic link"):
        append_command(folder, ["hyperzoo", "evaluate"])
    with pytest.raises(OSError, match=r"\.lock is a symbolic link"), lock_run(folder):
        pass
    assert all(v.read_text() == "mine" for v in victims.values())


def test_atomic_write_syncs_file_and_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    atomic_write_text(tmp_path / "f.txt", "x")
    assert events == ["fsync", "replace", "fsync"]
    assert (tmp_path / "f.txt").read_text() == "x"


def test_load_checkpoint_restores_the_global_rng(run):
    session = load_run(run)
    saved = load_file(str(run / CHECKPOINT))["rng.torch_global"]
    torch.manual_seed(123)
    load_checkpoint(run, session.method, global_rng=True, run_id=session.config.run_id)
    assert torch.equal(torch.get_rng_state(), saved)


def test_a_checkpoint_copied_from_another_run_is_refused(run, tmp_path):
    """Same config, same shapes, another run: resume, reopening and verify refuse its checkpoint;
    a folder and checkpoints from before run ids are not checked."""
    from hyperzoo.config import load_config
    from hyperzoo.verify import verify_run

    other = tmp_path / "other"
    # Started from the first run's own config.yaml, as a user copies it: still a new run.
    train(load_config(run / "config.yaml"), other, argv=["x"], progress=False)
    ids = [read_config(r).run_id for r in (run, other)]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]
    assert read_checkpoint(run / CHECKPOINT)[0]["run_id"] == ids[0]
    shutil.copy(run / CHECKPOINT, other / CHECKPOINT)
    refused = (rf"{CHECKPOINT} belongs to another run \(run_id '{ids[0]}'; this folder's config.yaml "
               rf"has '{ids[1]}'\)")
    with pytest.raises(RunError, match=refused):
        train(None, other, resume=True, argv=["x"], progress=False)
    with pytest.raises(RunError, match=refused):
        load_run(other)
    assert any("belongs to another run" in p for p in verify_run(other)[0])
    # The best model is checked at resume too (its score would seed the run's best).
    kept = [tmp_path / n for n in ("a", "b")]
    for folder in kept:
        train(tiny_config("train.steps=2", "train.keep_best=true", "train.val_every=1"), folder, argv=["x"],
              progress=False)
    shutil.copy(kept[0] / "best.safetensors", kept[1] / "best.safetensors")
    config = (kept[1] / "config.yaml").read_text()
    (kept[1] / "config.yaml").write_text(config.replace("steps: 2", "steps: 3"))
    with pytest.raises(RunError, match=r"best.safetensors belongs to another run"):
        train(None, kept[1], resume=True, argv=["x"], progress=False)
    # A folder from before run ids: its config.yaml names none, so nothing is checked.
    config = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(config.replace(f"run_id: {ids[1]}", "run_id: null"))
    assert load_run(other).checkpoint_step == 2


def test_resume_note_names_a_different_number_of_processes():
    from hyperzoo.runs import resume_note

    note = resume_note({"processes": 2}, processes=1)
    assert note is not None and "written by 2 training process(es), this run has 1" in note
    # A checkpoint from before the count was kept: one process needs nothing more from it.
    assert resume_note({}, processes=1) is None
    assert "does not say how many training processes" in (resume_note({}, processes=2) or "")


def test_a_recorded_command_runs_again_as_it_was_given(tmp_path):
    import shlex

    from hyperzoo.runs import append_command

    first = ["hyperzoo", "train", "--set", "method.generator_hidden=[[40, 40], [60, 60]]", "--out", "my run"]
    second = ["hyperzoo", "evaluate", "my run", "--networks", "2"]
    append_command(tmp_path, first)
    append_command(tmp_path, second)
    lines = (tmp_path / "command.txt").read_text().splitlines()
    assert [shlex.split(line) for line in lines] == [first, second]
    assert lines[1] == "hyperzoo evaluate 'my run' --networks 2"


def test_a_command_line_that_cannot_be_written_is_a_warning(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    record_command(tmp_path / "file", ["hyperzoo", "evaluate"])  # a file, not a folder
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {tmp_path / 'file' / 'command.txt'} was not written (Not a directory")


def test_a_folder_from_before_val_pick_keeps_its_last_examples_held_out(run, tmp_path):
    """Runs before data.val_pick held out the last examples of a set of their own: reopened,
    they must validate (and compute batch-norm statistics) on the same split, not a new one."""
    assert read_config(run).data.val_pick == "random"  # a new run records its choice
    old = tmp_path / "old"
    shutil.copytree(run, old)
    raw = yaml.safe_load((old / "config.yaml").read_text())
    del raw["data"]["val_pick"]
    (old / "config.yaml").write_text(yaml.safe_dump(raw))
    assert read_config(old).data.val_pick == "last"


def test_what_is_not_a_run_folder_says_why(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    for path, why in [(tmp_path / "f.txt", "it is a file, not a folder"),
                      (tmp_path / "nope", "it does not exist"), (tmp_path, "config.yaml is missing")]:
        with pytest.raises(RunError, match=f"is not a hyperzoo run folder: {why}"):
            read_config(path)


def test_verify_notes_a_leftover_temporary(run, tmp_path):
    """A kill during a checkpoint write left a 6 MB temporary; verify said only 'ok'."""
    from hyperzoo.verify import verify_run

    folder = copy_run(run, tmp_path)
    (folder / ".checkpoint.safetensors.abc12345.tmp").write_bytes(b"half a checkpoint")
    (folder / ".draft.tmp").write_text("a user's own")  # not the trainer's: not said
    problems, notes = verify_run(folder)
    assert problems == []
    assert [n for n in notes if "interrupted write" in n] == [
        f"{folder / '.checkpoint.safetensors.abc12345.tmp'}: left by an interrupted write of "
        "checkpoint.safetensors; the next --resume deletes it"]


@pytest.mark.parametrize("key", ["rng.noise", "rng.torch_global"])
def test_verify_loads_the_optimizer_and_random_states_as_a_resume_does(run, tmp_path, key):
    """A checkpoint whose noise generator (or torch's global) state was not a generator's passed
    verify ('ok') and failed train --resume (the global one with a traceback)."""
    from hyperzoo.runs import content_hash
    from hyperzoo.verify import verify_run

    bad = copy_run(run, tmp_path)
    assert verify_run(bad)[0] == []
    tensors = load_file(str(bad / CHECKPOINT))
    meta, _ = read_checkpoint(bad / CHECKPOINT)
    tensors[key] = tensors[key][:100].clone()
    meta = {**meta, "sha256": content_hash(tensors, meta)}
    save_tensors(bad / CHECKPOINT, tensors, {"hyperzoo": json.dumps(meta)})
    problems, _ = verify_run(bad)
    assert len(problems) == 1 and "its optimizer or RNG state does not fit this run" in problems[0]
    (bad / "config.yaml").write_text((bad / "config.yaml").read_text().replace("steps: 2\n", "steps: 3\n"))
    with pytest.raises(RunError, match="its optimizer or RNG state does not fit this run"):
        train(None, bad, resume=True, argv=["x"], progress=False)


def test_a_process_state_the_resume_needs_is_required_and_others_are_not(run, tmp_path):
    """verify wants every process's random state; a resume on one process needs only its own."""
    from hyperzoo.runs import content_hash
    from hyperzoo.verify import verify_run

    bad = copy_run(run, tmp_path)  # re-saved to say two processes, holding rank 0's state alone
    tensors = load_file(str(bad / CHECKPOINT))
    meta, _ = read_checkpoint(bad / CHECKPOINT)
    meta = {**meta, "processes": 2}
    meta["sha256"] = content_hash(tensors, meta)
    save_tensors(bad / CHECKPOINT, tensors, {"hyperzoo": json.dumps(meta)})
    problems, _ = verify_run(bad)
    assert len(problems) == 1 and "lacks training process 1's random state (the run had 2" in problems[0]
    (bad / "config.yaml").write_text((bad / "config.yaml").read_text().replace("steps: 2\n", "steps: 3\n"))
    train(None, bad, resume=True, argv=["x"], progress=False)  # one process: rank 0's state suffices
    assert load_run(bad).checkpoint_step == 3


def test_a_run_stopped_before_its_first_checkpoint_is_sent_to_resume(tmp_path):
    from hyperzoo.errors import RunError
    from hyperzoo.runs import read_checkpoint

    with pytest.raises(RunError, match="has no checkpoint.safetensors; train it first"):
        read_checkpoint(tmp_path / "checkpoint.safetensors")
    (tmp_path / "config.yaml").write_text("train: {}\n")
    with pytest.raises(RunError, match=f"continue its training first: hyperzoo train --resume {tmp_path}"):
        read_checkpoint(tmp_path / "checkpoint.safetensors")


def test_verify_checks_the_files_of_a_run_of_a_module_that_lived_in_memory(tmp_path):
    """It gave up with one 'problem' (no module to build) although the files need none."""
    from torch import nn

    import hyperzoo
    from hyperzoo.data import load_dataset
    from hyperzoo.verify import verify_run

    class Local(nn.Sequential):  # defined here: not importable, so the folder cannot rebuild it
        def __init__(self):
            super().__init__(nn.Flatten(), nn.Linear(64, 10))

    d = load_dataset("digits", "train")
    hyperzoo.fit(Local(), (d.x, d.y), out=tmp_path / "run", progress=False,
                 train={"steps": 2, "val_every": 2, "val_networks": 2, "noise_batch": 2,
                        "images_per_noise": 4})
    problems, notes = verify_run(tmp_path / "run")
    assert problems == [] and "was a module in memory" in notes[0]
    assert any("step 2, content hash verified" in n for n in notes)
    path = tmp_path / "run" / CHECKPOINT
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # a flipped bit in the tensors
    path.write_bytes(bytes(data))
    problems, _ = verify_run(tmp_path / "run")
    assert len(problems) == 1 and "is corrupt" in problems[0]
    # The method's settings are still checked (an edit of config.yaml was hidden by the note).
    config = tmp_path / "run" / "config.yaml"
    config.write_text(config.read_text().replace("method:\n", "method:\n  z_dims: 3\n"))
    problems, _ = verify_run(tmp_path / "run")
    assert len(problems) == 1 and problems[0].startswith("unknown config key 'method.z_dims'")
