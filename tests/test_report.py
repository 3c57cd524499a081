import json

import pytest

from hyperzoo.config import load_config
from hyperzoo.report import make_report
from hyperzoo.train import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train(tiny_config("train.steps=3"), root / "a", argv=["x"], progress=False)
    ensemble = load_config(None, ["method.name=ensemble", "method.size=4", "train.noise_batch=4",
                                  "train.steps=3", "train.val_every=3", "train.val_networks=4"])
    train(ensemble, root / "b", argv=["x"], progress=False)
    return root


def test_report_writes_markdown_json_and_figures(runs, tmp_path):
    rep = make_report(runs / "a", tmp_path, compare=[runs / "b"], pool=12, limit=60, adv_limit=20,
                      path_limit=30, progress=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["pool"] == 12 and saved["examples"] == 60
    assert len(saved["runs"]) == 2
    for name in rep["figures"].values():
        assert (tmp_path / name).stat().st_size > 5_000
    md = (tmp_path / "report.md").read_text()
    for section in ("## Ensembles", "### Paths in weight space", "## Adversarial examples"):
        assert section in md
    adv = saved["adversarial"]
    # ε = 0 leaves the images as they are, and only correctly classified ones are attacked.
    assert adv["fgsm"]["single_network"][0] == adv["pgd"]["single_network"][0] == 0
    assert [r["size"] for r in saved["ensemble_vs_size"]] == [1, 2, 5, 10]
