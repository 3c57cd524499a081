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


def test_saved_files_are_the_same_bytes_and_read_back_by_safetensors(tmp_path):
    """Every dtype hyperzoo writes, empty and 0-d tensors, a non-contiguous one; the metadata
    and the tensors in either order give the same bytes (safetensors' own writer ordered the
    metadata at random), and safetensors reads back each tensor and the metadata."""
    from safetensors import safe_open

    g = torch.Generator().manual_seed(0)
    tensors = {"f64": torch.randn(2, 3, dtype=torch.float64, generator=g),
               "f32": torch.randn(4, 3, generator=g).t(), "bf16": torch.randn(5, generator=g).bfloat16(),
               "f16": torch.randn(3, generator=g).half(), "i64": torch.arange(-3, 4),
               "i32": torch.arange(6, dtype=torch.int32).view(2, 3), "u8": torch.arange(250, 256).byte(),
               "i8": torch.tensor([-128, 127], dtype=torch.int8),
               "i16": torch.tensor([-7], dtype=torch.int16), "bool": torch.tensor([True, False, True]),
               "empty": torch.zeros(0, 4), "scalar": torch.tensor(2.5),
               # Written by safetensors' own writer, refused by hyperzoo's first one.
               "u16": torch.arange(3).to(torch.uint16), "u32": torch.arange(3).to(torch.uint32),
               "u64": torch.arange(3).to(torch.uint64),
               "f8": torch.randn(4, generator=g).to(torch.float8_e4m3fn),
               "f8e5": torch.randn(2, generator=g).to(torch.float8_e5m2)}
    meta = {"step": 3, "run_id": "abc", "method": "deutsch", "λ": "1e3"}
    save_tensors(tmp_path / "a.safetensors", tensors, meta)
    save_tensors(tmp_path / "b.safetensors", dict(reversed(tensors.items())), dict(reversed(meta.items())))
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    with safe_open(str(tmp_path / "a.safetensors"), framework="pt") as f:
        assert f.metadata() == {k: str(v) for k, v in meta.items()}
        assert sorted(f.keys()) == sorted(tensors)
        for k, t in tensors.items():
            back = f.get_tensor(k)
            def as_bytes(x):  # torch.equal has no uint32 or float8 kernels
                return x.contiguous().reshape(-1).view(torch.uint8)
            assert back.dtype == t.dtype and back.shape == t.shape, k
            assert torch.equal(as_bytes(back), as_bytes(t)), k


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


def test_a_full_disk_names_the_file_being_written(tmp_path):
    """"[Errno 28] No space left on device" named no file (a checkpoint? a figure?)."""
    import errno

    from hyperzoo.weights import atomic_write

    def full(tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError, match=r"could not write .*checkpoint.safetensors \(No space") as e:
        atomic_write(tmp_path / "checkpoint.safetensors", full)
    assert e.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match="could not write .*afile/sub/f.txt"):
        atomic_write_text(tmp_path / "afile" / "sub" / "f.txt", "x")


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


def test_text_files_are_utf8_whatever_the_locale(tmp_path):
    """Under a C locale a report's ± and λ could not be encoded: report.md failed at its last step."""
    import os
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from hyperzoo.weights import atomic_write_text, open_own; "
            "atomic_write_text(Path(sys.argv[1]) / 'r.md', '\\u03bb \\u00b1 \\u03b5'); "
            "f = open_own(Path(sys.argv[1]) / 'c.txt', 'a'); f.write('--run \\u03bb\\n'); f.close()")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True)
    assert (tmp_path / "r.md").read_bytes() == "λ ± ε".encode()
    assert (tmp_path / "c.txt").read_bytes() == "--run λ\n".encode()


def test_flatten_keeps_each_networks_weights_in_its_row():
    from hyperzoo.weights import flatten
    w = {"a": torch.arange(6.0).view(2, 3), "b": torch.arange(100.0, 108.0).view(2, 2, 2)}
    flat = flatten(w)
    for i in range(2):
        assert torch.equal(flat[i], torch.cat([w["a"][i].flatten(), w["b"][i].flatten()]))
