"""The command's entry point: Ctrl-C while it imports torch is one line; --version."""

import sys
import types

import pytest
from typer.testing import CliRunner

from hyperzoo import __version__, entry


def test_ctrl_c_while_the_command_imports_is_one_line(monkeypatch, capsys):
    """It was a 47-line traceback from inside torch's import (the command's first half second)."""

    class Importing(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "hyperzoo.cli", Importing("hyperzoo.cli"))
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 130 and capsys.readouterr().err == "interrupted\n"


def test_version():
    from hyperzoo.cli import app

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output == f"hyperzoo {__version__}\n"
