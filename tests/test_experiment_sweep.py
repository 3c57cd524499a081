"""experiments/sweep.py's Pareto figure, from the committed sweep's own rows."""

import json
from pathlib import Path

from tests.helpers import load_experiment

ROOT = Path(__file__).resolve().parent.parent


def test_the_pareto_figure_zooms_when_a_setting_is_far_below_the_rest(tmp_path, monkeypatch):
    script = load_experiment("sweep")
    rows = json.loads((ROOT / "experiments/results/sweep-deutsch-mnist-cpu/report.json").read_text())["rows"]
    assert min(r["summary"]["single_mean"] for r in rows if "summary" in r) < script.ZOOM_FROM / 100
    import matplotlib.pyplot as plt

    panels = []  # the (rows, columns) of each figure drawn

    subplots = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: panels.append(a) or subplots(*a, **k))
    script.pareto_figure(rows, tmp_path / "pareto.png")
    assert panels == [(1, 2)] and (tmp_path / "pareto.png").stat().st_size > 20_000
    script.pareto_figure([r for r in rows if r.get("summary", {}).get("single_mean", 0) > 0.9],
                         tmp_path / "zoomless.png")
    assert panels[-1] == (1, 1)
