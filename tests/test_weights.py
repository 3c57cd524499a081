import os
import stat

import pytest
import torch

from hyperzoo.weights import atomic_write_text, batch_size, concat, flatten, load_tensors, save_tensors


def test_save_and_load_round_trip(tmp_path):
    w = {"a": torch.randn(3, 2, 2), "b": torch.randn(3, 5)}
    save_tensors(tmp_path / "w.safetensors", w, {"note": 1})
    back = load_tensors(tmp_path / "w.safetensors")
    assert all(torch.equal(back[k], w[k]) for k in w)
    assert flatten(w).shape == (3, 9) and batch_size(concat([w, w])) == 6


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    from hyperzoo.weights import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_written_files_are_not_private(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_inconsistent_batch():
    with pytest.raises(ValueError, match="inconsistent ensemble sizes"):
        batch_size({"a": torch.zeros(2, 1), "b": torch.zeros(3, 1)})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such safetensors file"):
        load_tensors(tmp_path / "nope.safetensors")
