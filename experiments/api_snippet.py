"""Run the README's `hyperzoo.fit` snippet (section "Your own model and data") as written and
keep what it printed, with its OOD result, as the JSON the README's numbers come from.

    python experiments/api_snippet.py [--out experiments/results/api-digits]

The snippet runs in a temporary folder (it writes runs/my-digits there); the JSON gets its two
printed lines parsed, the run's test metrics and its `Run.ood` result.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import runpy
import shutil
import tempfile
from pathlib import Path

import hyperzoo
from hyperzoo.weights import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
SECTION = "### Your own model and data"


def snippet() -> str:
    """The first python block after the section heading."""
    text = (ROOT / "README.md").read_text()
    return re.search(r"^```python\n(.*?)^```", text[text.index(SECTION):], re.S | re.M).group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "api-digits"))
    args = parser.parse_args()
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="api-snippet-"))
    here = Path.cwd()
    printed = io.StringIO()
    try:
        os.chdir(work)
        (work / "snippet.py").write_text(snippet())
        with contextlib.redirect_stdout(printed):
            scope = runpy.run_path(str(work / "snippet.py"), run_name="__main__")
        run_dir = work / "runs" / "my-digits"
        metrics = json.loads((run_dir / "metrics-test.json").read_text())
        config = (run_dir / "config.yaml").read_text()
    finally:
        os.chdir(here)
    lines = printed.getvalue().splitlines()
    print("\n".join(lines))
    single, ensemble = (float(v) / 100 for v in re.findall(r"([\d.]+)%", lines[0]))
    result = {"printed": {"lines": lines, "single": single, "ensemble": ensemble,
                          "auroc": {k: s["auroc"] for k, s in scope["r"]["sets"].items()}},
              "hyperzoo": hyperzoo.__version__ if hasattr(hyperzoo, "__version__") else None,
              "metrics": metrics, "ood": scope["r"]}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "readme_snippet_output.json", result)
    (out / "config.yaml").write_text(config)
    (out / "metrics-test.json").write_text(json.dumps(metrics, indent=1) + "\n")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
