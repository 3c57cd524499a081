"""Wall time of the README's two setup commands from a clean clone of this repository's HEAD, run
one after the other (nothing else should run beside them), and the test counts pytest reports.
Prints JSON; not a test. The README's opening paragraph quotes it.

    python bench/readme_commands.py > bench/results/readme_commands.json
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands() -> list[str]:
    """The two commands in the README's first code block (set up + demo, set up + tests)."""
    block = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    if len(lines) != 2:
        raise SystemExit(f"README's first code block has {len(lines)} commands, expected 2")
    return lines


def main() -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    runs = []
    for command in commands():
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "repo"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            start = time.perf_counter()
            done = subprocess.run(command, shell=True, cwd=clone, capture_output=True, text=True)
            seconds = time.perf_counter() - start
        summary = re.findall(r"^(\d+ passed.*) in [\d.]+s", done.stdout, flags=re.M)
        runs.append({"command": command, "exit_code": done.returncode, "seconds": round(seconds, 1),
                     **({"pytest": summary[-1]} if summary else {})})
    print(json.dumps({"commit": head, "date": datetime.date.today().isoformat(), "runs": runs},
                     indent=2))


if __name__ == "__main__":
    main()
