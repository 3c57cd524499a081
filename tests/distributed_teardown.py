"""Run by tests/test_distributed.py under torchrun: a short training, then the names of the
threads each process has left (Linux: /proc), one file per rank."""

import os
import sys
from pathlib import Path

from hyperzoo.config import load_config
from hyperzoo.train import train
from tests.helpers import TINY

if __name__ == "__main__":
    out = Path(sys.argv[1])
    train(load_config(None, [*TINY, "train.steps=2", "train.threads=1"]), out / "run", argv=["x"],
          progress=False)
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    (out / f"threads.rank{os.environ['RANK']}").write_text("\n".join(names))
