"""The process settings of the hyperzoo command (OpenMP waiting, glibc allocator)."""

import os
import subprocess
import sys
from pathlib import Path

from hyperzoo.runtime import tune_allocator

ROOT = Path(__file__).resolve().parents[1]


def test_the_cli_leaves_openmp_waiting_to_the_user_and_imports_no_torch_first():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT / "src")
    code = ("import sys, hyperzoo.process_setup, os; "
            "print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY')); import hyperzoo.cli")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "None"]
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # the user's own choice is kept
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "PASSIVE"


def test_allocator_tuning_is_skipped_where_the_user_set_the_variables(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1")
    assert tune_allocator() is False
