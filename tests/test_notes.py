"""Notes are said once per command: by rank 0 alone under torchrun."""

from hyperzoo.notes import note


def test_a_note_is_one_line_on_stderr(capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    note("train.steps = 2 leaves room for 2 snapshots")
    out = capsys.readouterr()
    assert out.out == "" and out.err == "note: train.steps = 2 leaves room for 2 snapshots\n"


def test_only_rank_0_speaks_under_torchrun(capsys, monkeypatch):
    """Two processes printed every note twice."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    note("said by rank 0")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("WORLD_SIZE", "1")  # a launcher's one process: it speaks
    note("said")
    assert capsys.readouterr().err == "note: said\n"
    monkeypatch.setenv("RANK", "0")
    note("said by rank 0")
    assert capsys.readouterr().err == "note: said by rank 0\n"
