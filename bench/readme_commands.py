"""Wall time of the README's two setup commands from a clean clone of this repository's HEAD, run
one after the other (nothing else should run beside them), and the test counts pytest reports.
Prints JSON (with the demo's printout, to hold against the README's "What the demo prints");
not a test. The README's opening paragraph quotes it. ``--demo-results DIR`` also copies the
demo run's metrics-test.json, config.yaml and command.txt there.

    python bench/readme_commands.py [--demo-results experiments/results/demo] \
        > bench/results/readme_commands.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-results", type=Path, default=None,
                        help="copy the demo run's metrics-test.json, config.yaml, command.txt here")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    runs, machine = [], None
    for command in commands():
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "repo"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            start = time.perf_counter()
            done = subprocess.run(command, shell=True, cwd=clone, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            demo = clone / "runs" / "demo"
            if (demo / "metrics-test.json").is_file():  # the demo names the CPU it ran on
                machine = json.loads((demo / "metrics-test.json").read_text()).get("machine")
            if args.demo_results is not None and (demo / "metrics-test.json").is_file():
                args.demo_results.mkdir(parents=True, exist_ok=True)
                for name in ("metrics-test.json", "config.yaml", "command.txt"):
                    shutil.copy(demo / name, args.demo_results / name)
        summary = re.findall(r"^(\d+ passed.*) in [\d.]+s", done.stdout, flags=re.M)
        runs.append({"command": command, "exit_code": done.returncode, "seconds": round(seconds, 1),
                     **({"pytest": summary[-1]} if summary else {"stdout": done.stdout[-3000:]})})
    print(json.dumps({"commit": head, "date": datetime.date.today().isoformat(), "machine": machine,
                      "cores": os.cpu_count(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
