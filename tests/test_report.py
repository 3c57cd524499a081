import json

import pytest
import torch
from torch import nn

from hyperzoo.config import load_config
from hyperzoo.errors import ConfigError, DataError, RunError
from hyperzoo.report import make_report
from hyperzoo.train import train
from tests.helpers import method_overrides, tiny_config
from tests.test_workflows import write_idx_folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train(tiny_config("train.steps=3"), root / "a", argv=["x"], progress=False)
    ensemble = load_config(None, ["method.name=ensemble", "method.size=4", "train.noise_batch=4",
                                  "train.steps=3", "train.val_every=3", "train.val_networks=4"])
    train(ensemble, root / "b", argv=["x"], progress=False)
    return root


def test_report_writes_markdown_json_and_figures(runs, tmp_path):
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 256, (80, 8, 8))
    write_idx_folder(tmp_path / "data" / "notmnist-small", noise)
    data_dir, tmp_path = tmp_path / "data", tmp_path / "report"  # the report's own folder
    rep = make_report(runs / "a", tmp_path, compare=[runs / "b"], pool=12, limit=60, adv_limit=20,
                      path_limit=30, ood="notmnist", data_dir=str(data_dir),
                      detection_sizes=[2, 4, 8], transfer_networks=20, progress=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["pool"] == 12 and saved["examples"] == 60
    assert len(saved["runs"]) == 2
    # The ensemble's pool is its 4 networks, not the 12 asked for (the header said 12 for both).
    assert sorted(saved["pool_by_run"].values()) == [4, 12]
    # Scripts find each run by folder and run_id, not by its display label.
    assert {v["run"] for v in saved["run_by_label"].values()} == {str((runs / n).resolve()) for n in "ab"}
    assert all(v["run_id"] for v in saved["run_by_label"].values())
    for name in rep["figures"].values():
        assert (tmp_path / name).stat().st_size > 5_000
    md = (tmp_path / "report.md").read_text()
    for section in ("## Ensembles", "### Paths in weight space", "## Adversarial examples",
                    "## Adversarial detection", "## Out-of-distribution detection", "## Uncertainty"):
        assert section in md
    assert "positive class: outliers (notmnist)" in md and "| mutual information |" in md
    assert "Drawn from one pool, they overlap" in md
    assert set(saved["uncertainty"]) == set(saved["runs"]) and "reliability" in rep["figures"]
    # Paths score --path-limit examples of the whole test set, not of the --limit subset.
    assert saved["examples"] == 60 and saved["paths"]["examples"] == 30
    for u in saved["uncertainty"].values():
        assert u["ensemble_ece"] >= 0 and u["mean_nll"] > 0 and 0 <= u["disagreement"] <= 1
    # The hypernetwork attacks N and scores a fresh N; the 4-network ensemble has no size 8
    # and scores on the ensemble it attacked. PGD and FGSM for each size.
    rows = {(r["run"].split(" ")[0], r["size"], r["attack"]): r
            for r in saved["adversarial_detection"]["rows"]}
    assert set(rows) == {(run, n, a) for run, sizes in (("a", (2, 4, 8)), ("b", (2, 4)))
                         for n in sizes for a in ("fgsm", "pgd")}
    assert all(r["fresh"] == (key[0] == "a") for key, r in rows.items())
    assert all(0 <= r["detection_rate_at_5_fpr"] <= 1 and 0 <= r["auroc"] <= 1 for r in rows.values())
    # The compared ensemble (a pool of 4) gets every diversity section too: ensembles by size,
    # filters and PCA views, direct paths (no latent space), the targeted attack (seed 001's MNFG).
    b = next(label for label in saved["runs"] if label.startswith("b "))
    assert [r["size"] for r in saved["ensemble_vs_size_by_run"][b]][:2] == [1, 2]
    assert set(saved["pca_explained_variance_by_run"]) == {b}
    pb = saved["paths_by_run"][b]
    assert pb["pairs"] == 2 and "interpolated" not in pb and pb["examples"] == 30
    eps = saved["adversarial"]["epsilons"]
    assert len(saved["adversarial_by_run"][b]["fgsm"]["fresh_ensemble"]) == len(eps)
    assert any(k.startswith("filters_layer1_1-b") for k in rep["figures"])
    assert "pca_network_1-b" in rep["figures"] and pb["figure"] == "paths_1-b.png"
    assert md.count("| ε | FGSM single |") == 2 and "direct path only" in md
    ood = saved["ood"]
    assert ood["n_outliers"] == 60 and ood["image_overlap"] == 0.0
    assert {v["n_networks"] for v in ood["runs"].values()} == {100, 4}
    assert ood["positive_class"] == "outliers (notmnist)"
    for v in ood["runs"].values():
        assert set(v["scores"]) == {"entropy", "mutual_information"}
        assert v["auroc"] == v["scores"]["entropy"]["auroc"]
    # Seed 002 Fig. 7's bottom row: the main run's least-entropy outliers, least first.
    conf, main_ood = ood["confident_outliers"], next(iter(ood["runs"].values()))
    assert conf["entropy"] == sorted(conf["entropy"]) and len(set(conf["indices"])) == 12
    assert conf["entropy"][-1] <= main_ood["scores"]["entropy"]["mean_outliers"]
    assert all(sum(v) == conf["networks"] == 100 for v in conf["votes"])
    assert (tmp_path / conf["figure"]).stat().st_size > 5_000 and "confident outliers" in md
    adv = saved["adversarial"]
    # ε = 0 leaves the images as they are, and only correctly classified ones are attacked.
    assert adv["fgsm"]["single_network"][0] == adv["pgd"]["single_network"][0] == 0
    assert [r["size"] for r in saved["ensemble_vs_size"]] == [1, 2, 5, 10]
    # Layers by name, not by position in a Sequential; no seed numbers: digits is not their setting.
    assert list(saved["runs"][next(iter(saved["runs"]))]["layer_norms"]) == ["conv1", "conv2", "fc1", "fc2"]
    assert saved["seed_numbers"] == {} and "Seed:" not in md and "seed 002 |" not in md
    # Seed 002 Table 3: the 4 independently trained networks are the standard-training row.
    assert "| standard training (independent networks), b " in md and "needs an independently" not in md
    assert all(v["var"] >= 0 for m in saved["runs"].values() for v in m["layer_norms"].values())
    # Seed 002 Fig. 4: a fresh pool of 20 for the hypernetwork, the other 3 of the fixed ensemble.
    assert {k.split(" ")[0]: v["pool"] for k, v in saved["transfer"].items()} == {"a": 20, "b": 3}
    for t in saved["transfer"].values():
        for attack in ("fgsm", "pgd"):
            a = t[attack]
            assert len(a["fractions"]) == a["fool_crafting"] <= a["attacked"] <= 20
            assert all(0 <= f <= 1 for f in a["fractions"])
    # Seed 002 Fig. 7: the 12 test images of highest mutual information, highest first.
    amb = saved["ambiguous"]
    assert len(amb["indices"]) == len(set(amb["indices"])) == 12 and amb["score"] == "mutual_information"
    assert amb["scores"] == sorted(amb["scores"], reverse=True)
    assert all(sum(v) == 12 for v in amb["votes"])  # every network of the pool votes once
    for section in ("## Transfer across the pool", "## Ambiguous test images"):
        assert section in md
    assert "pools of 12 (a " in md and " 4 (b " in md
    # Again into its folder without --ood and --compare: their figures go (they stayed, unnamed).
    again = make_report(runs / "a", tmp_path, pool=4, limit=20, adv_limit=6, path_limit=10,
                        detection_sizes=[2], transfer_networks=2, progress=False)
    left = {f.name for f in tmp_path.glob("*.png")}
    assert left == {again["figures"][k] for k in again["figures"]} and "ood_cdf.png" not in left


def test_seed_numbers_only_for_their_own_setting():
    from hyperzoo.report import seed_numbers_for

    assert set(seed_numbers_for("mnist", "deutsch", "deutsch_mnist")) == {"ensemble_majority_20x200"}
    hypergan = seed_numbers_for("mnist", "hypergan", "hypergan_mnist")
    assert {"hypergan_table4_mnist", "hypergan_table3_mnist"} <= set(hypergan)
    assert hypergan["hypergan_table3_mnist"]["value"]["standard"]["conv2"] == [160.51, 0.51]
    assert seed_numbers_for("mnist", "hypergan", "mymodels:Net") == {}
    assert seed_numbers_for("blobs", "deutsch", "deutsch_mnist") == {}


def test_static_run_is_compared_not_analysed(runs, tmp_path):
    """A static hypernetwork holds one network: a row beside the pool, never the pool itself."""
    static = load_config(None, ["method.name=static", "train.noise_batch=1", "train.images_per_noise=16",
                                "train.steps=2", "train.val_every=2", "train.val_networks=1"])
    train(static, tmp_path / "s", argv=["x"], progress=False)
    with pytest.raises(RunError, match="holds 1 network .*--compare"):
        make_report(tmp_path / "s", tmp_path / "r1", pool=4, progress=False)
    rep = make_report(runs / "a", tmp_path / "r2", compare=[tmp_path / "s"], pool=4, limit=30,
                      adv_limit=10, path_limit=10, detection_sizes=[2], progress=False)
    row = next(m for label, m in rep["runs"].items() if label.startswith("s "))
    assert row["n_networks"] == 1 and row["std_accuracy"] == 0.0 and row["entropy_estimate"] is None
    assert {r["run"].split(" ")[0] for r in rep["adversarial_detection"]["rows"]} == {"a"}


def test_report_with_an_ensemble_as_the_main_run(runs, tmp_path):
    """A fixed set has no fresh networks: of its 4, the first 2 craft the targeted attacks and
    the other 2 score them (never an ensemble holding the attacked network itself)."""
    rep = make_report(runs / "b", tmp_path / "r", pool=10, limit=20, adv_limit=6, path_limit=10,
                      detection_sizes=[5], progress=False)
    # Smaller than every detection size: the whole set is attacked (it had no row at all).
    assert {r["size"] for r in rep["adversarial_detection"]["rows"]} == {4}
    a = rep["adversarial"]
    assert a["crafted_on"] == 2 and a["fresh_ensemble"] == 2
    assert a["scored_on"] == "the set's 2 other networks"
    assert "or the set's 2 other networks (mean probability)" in (tmp_path / "r" / "report.md").read_text()
    # No latent space: the direct path between its networks (only compared runs had it).
    (label,) = rep["runs"]
    p = rep["paths_by_run"][label]
    assert p["pairs"] == 2 and "interpolated" not in p and (tmp_path / "r" / "paths.png").is_file()
    assert "paths" not in rep and "### Paths in weight space" in (tmp_path / "r" / "report.md").read_text()


def test_crafted_on_counts_the_networks_that_crafted(runs, tmp_path):
    """12 examples in chunks of two made 6 shares, and 6 examples 6; `crafted_on` said 10."""
    for examples, crafting in ((12, 10), (6, 6)):
        rep = make_report(runs / "a", tmp_path / str(examples), pool=12, limit=20, adv_limit=examples,
                          path_limit=10, path_pairs=1, detection_sizes=[2], transfer_networks=2,
                          progress=False)
        assert rep["adversarial"]["crafted_on"] == crafting and rep["adversarial"]["attempted"] == examples


def test_paths_have_per_pair_curves_and_a_spread_over_pairs(runs, tmp_path):
    rep = make_report(runs / "a", tmp_path, pool=4, limit=30, adv_limit=6, path_pairs=3,
                      detection_sizes=[2], transfer_networks=5, progress=False)
    p = json.loads((tmp_path / "report.json").read_text())["paths"]
    assert p["examples"] == 300 and p["pairs"] == 3  # default path_limit: the whole test set (not --limit)
    assert len(p["direct"]) == len(p["interpolated"]) == 3 and len(p["per_pair"]["direct_dip"]) == 3
    assert p["direct_dip"]["std"] >= 0 and p["std_over"].startswith("pairs")
    md = (tmp_path / "report.md").read_text()
    assert "3 pairs (z₁, z₂)" in md and "paths" in rep["figures"]
    assert "needs an independently trained ensemble" in md  # no --compare ensemble for Table 3
    pv = json.loads((tmp_path / "report.json").read_text())["pca_explained_variance"]
    layers = ["conv1", "conv2", "fc1", "fc2"]
    # A pool of 4 spans 3 components: a fourth was rounding noise drawn as a collapsed panel.
    assert list(pv["filter"]) == list(pv["layer"]) == layers and len(pv["network"]) == 3
    assert all(abs(sum(v) - 1) < 1e-9 for v in pv["layer"].values())  # ratios of the total variance
    assert {"pca_filter", "pca_layer", "pca_network"} <= set(rep["figures"])
    with pytest.raises(ConfigError, match="--path-pairs"):
        make_report(runs / "a", tmp_path / "bad", pool=4, path_pairs=0, progress=False)


def test_table3_puts_the_seeds_numbers_beside_a_hypergan_mnist_run():
    from hyperzoo.report import _norms_markdown, seed_numbers_for

    norms = {k: {"mean": m, "std": 1.0, "var": 1.0}
             for k, m in (("conv1", 7.0), ("conv2", 50.0), ("fc1", 20.0))}
    rep = {"runs": {"hg (hypergan, β = 1)": {"layer_norms": norms, "n_networks": 200, "mean_accuracy": 0.99,
                                             "method": "hypergan"}},
           "seed_numbers": seed_numbers_for("mnist", "hypergan", "hypergan_mnist")}
    md = "\n".join(_norms_markdown(rep))
    assert "| seed 002: HyperGAN | 7.49 (1.59) | 51.10 (10.62) | 22.01 (6.01) | 99% (stated) |" in md
    assert "| seed 002: standard training, 10 | 27.05 (0.31) | 160.51 (0.51) | 5.97 (0.06) |" in md
    assert "needs an independently trained ensemble" in md and "seed 002 Table 3, MNIST" in md


@pytest.mark.parametrize(("module", "shape"), [
    (nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)), (16,)),  # feature vectors
    (nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8, 3)), (2, 10)),  # sequences
])
def test_the_report_of_a_target_without_images_draws_what_has_a_picture(tmp_path, module, shape):
    """Filters without an image form get no figure; ambiguous inputs are drawn as rows or
    channel-by-step grids (both crashed after most of the report's work)."""
    import hyperzoo

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, *shape, generator=gen), torch.randint(0, 3, (60,), generator=gen)
    run = hyperzoo.fit(module, (x, y), out=tmp_path / "run", test_data=(x[:20], y[:20]), input_shape=shape,
                       train={"steps": 2, "threads": 1, "noise_batch": 4, "images_per_noise": 8,
                              "val_every": 2, "val_networks": 2},
                       method={"z_dim": 8, "code_size": 4, "extractor_hidden": [16],
                               "generator_hidden": [16]},
                       progress=False)
    rep = run.report(tmp_path / "report", networks=6, adv_limit=6, path_pairs=2, transfer_networks=3,
                     detection_sizes=[2], ambiguous=4, progress=False)
    assert (tmp_path / "report" / rep["figures"]["ambiguous"]).stat().st_size > 0


def test_a_compared_run_on_another_target_gets_its_own_layers(runs, tmp_path):
    """The main run has 4 layers, the compared one 2: its filter figures follow its own layers
    (the loop over the main run's layers indexed past them)."""
    other = load_config(None, ["target.name=tests.helpers:TanhNet", "train.steps=2", "train.val_every=2",
                               "train.val_networks=4"])
    train(other, tmp_path / "tanh", argv=["x"], progress=False)
    rep = make_report(runs / "a", tmp_path / "r", compare=[tmp_path / "tanh"], pool=4, limit=20,
                      adv_limit=6, path_limit=10, detection_sizes=[2], transfer_networks=5,
                      progress=False, trust_code=True)
    own = sorted(k for k in rep["figures"] if k.startswith("filters_layer") and k.endswith("-tanh"))
    assert own == ["filters_layer1_1-tanh"]


def test_what_the_report_reads_is_checked_before_its_folder(runs, tmp_path):
    """An outlier set of another shape, a compared regression run, a bad --adv-limit and the
    run itself as --compare were refused (or crashed) after figures were written."""
    import numpy as np

    np.savez(tmp_path / "big.npz", x_test=np.zeros((10, 1, 28, 28), dtype=np.float32), y_test=np.zeros(10))
    train(load_config(None, method_overrides("hypergan_regression")), tmp_path / "reg", argv=["x"],
          progress=False)
    common = {"pool": 4, "limit": 20, "adv_limit": 6, "path_limit": 10, "detection_sizes": [2],
              "progress": False}
    cases = [({"ood": str(tmp_path / "big.npz")}, r"inputs of shape \(1, 28, 28\) but the run's target"),
             ({"compare": [tmp_path / "reg"]}, "inputs of shape|trains for regression"),
             ({"compare": [runs / "a"]}, "is the report's own run"),
             ({**common, "adv_limit": -1}, r"--adv-limit must be at least 0")]
    for i, (kwargs, message) in enumerate(cases):
        with pytest.raises((ConfigError, DataError), match=message):
            make_report(runs / "a", tmp_path / f"r{i}", **{**common, **kwargs})
        assert not (tmp_path / f"r{i}").exists()


def test_runs_of_one_folder_name_keep_their_own_rows(runs, tmp_path):
    """a/run and b/run both labelled "run (…)": one row, the second run's numbers under it."""
    import shutil

    shutil.copytree(runs / "a", tmp_path / "x" / "a")
    train(tiny_config("train.steps=1"), tmp_path / "y" / "a", argv=["x"], progress=False)
    rep = make_report(tmp_path / "x" / "a", tmp_path / "r", compare=[tmp_path / "y" / "a"], pool=4, limit=20,
                      adv_limit=6, path_limit=10, detection_sizes=[2], progress=False)
    assert len(rep["runs"]) == 2 and any(label.startswith("y/a ") for label in rep["runs"])


class BranchyDigits(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so no gauge."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(64, 16), nn.Linear(16, 10)

    def forward(self, x):
        h = self.a(x.flatten(1))
        if h.sum() > 0:
            h = torch.relu(h)
        return self.b(h)


def test_a_target_without_a_gauge_is_reported_on_its_weights(tmp_path):
    """gauge_fix raised out of the report (evaluate already fell back)."""
    config = load_config(None, ["target.name=tests.test_report:BranchyDigits", "method.name=ensemble",
                                "method.size=3", "train.noise_batch=3", "train.steps=2", "train.val_every=2",
                                "train.val_networks=3"])
    train(config, tmp_path / "run", argv=["x"], progress=False)
    rep = make_report(tmp_path / "run", tmp_path / "r", pool=3, limit=20, adv_limit=6, path_limit=10,
                      detection_sizes=[2], progress=False, trust_code=True)
    (row,) = rep["runs"].values()
    assert row["gauge_fixed"] is False and row["entropy_estimate"] is None


def test_a_pool_with_a_diverged_network_is_refused_before_the_folder(runs, tmp_path):
    """Its ensembles read NaN as class 0, and sklearn failed on its scores half-way through."""
    from hyperzoo.session import load_run

    session = load_run(runs / "b")
    with torch.no_grad():
        for p in session.method.parameters():
            p[1] = torch.nan  # the ensemble's member 1
    with pytest.raises(RunError, match=r"1 of its 4 sampled networks give NaN outputs on the digits test"):
        make_report(runs / "b", tmp_path / "r", session=session, pool=4, limit=20, adv_limit=6, path_limit=10,
                    detection_sizes=[2], progress=False)
    assert not (tmp_path / "r").exists()


def test_a_diverged_network_in_a_sections_own_draw_is_refused_before_the_folder(runs, tmp_path):
    """The pool was checked, the sections' fresh draws were not: one NaN network in the fresh
    ensemble made its mean probability NaN and the attack's success against it 0%."""
    from hyperzoo.report import SEED_OFFSETS
    from hyperzoo.session import load_run

    session = load_run(runs / "a")
    sample = session.method.sample

    def diverged_for_one_seed(n, generator):
        weights = sample(n, generator=generator)
        if generator.initial_seed() == SEED_OFFSETS["transfer"]:
            next(iter(weights.values()))[2] = torch.nan
        return weights
    session.method.sample = diverged_for_one_seed
    with pytest.raises(RunError, match=r"1 of the 3 networks the report draws for its transfer section "
                                       r"\(noise seed 19\) give weights that are not finite"):
        make_report(runs / "a", tmp_path / "r", session=session, pool=4, limit=20, adv_limit=6,
                    path_limit=10, detection_sizes=[2], transfer_networks=2, progress=False)
    assert not (tmp_path / "r").exists()


def test_finite_networks_with_nan_outputs_in_a_sections_draw_are_refused_too(runs, tmp_path):
    """Weights of 1e20 are finite, their outputs NaN."""
    from hyperzoo.report import SEED_OFFSETS
    from hyperzoo.session import load_run

    session = load_run(runs / "a")
    sample = session.method.sample

    def huge_for_one_seed(n, generator):
        weights = sample(n, generator=generator)
        if generator.initial_seed() == SEED_OFFSETS["adversarial_fresh"]:
            for v in weights.values():
                v[0] = 1e20 * torch.sign(v[0])
        return weights
    session.method.sample = huge_for_one_seed
    with pytest.raises(RunError, match=r"1 of the 4 networks .* adversarial section .* give NaN outputs"):
        make_report(runs / "a", tmp_path / "r", session=session, pool=4, limit=20, adv_limit=6,
                    path_limit=10, detection_sizes=[2], transfer_networks=2, progress=False)
    assert not (tmp_path / "r").exists()


def test_coinciding_networks_show_an_entropy_of_minus_infinity_and_no_pca_variance():
    from hyperzoo.report import _entropy_cell, _shares

    assert _entropy_cell({"coinciding_networks": 4, "entropy_estimate": None}) == "−∞ (4 networks coincide)"
    assert _entropy_cell({"coinciding_networks": 0, "entropy_estimate": -12.3}) == "-12"
    assert _shares([0.0, 0.0]) == "no variance (the same in every network)"
    assert _shares([0.75, 0.25]) == "75.0, 25.0"


def test_the_progress_bar_ends_at_its_total(runs, tmp_path, monkeypatch):
    """A one-network compared run is not attacked, and the transfer and ambiguous sections did
    not move the bar: it ended at 28 of 29 alone and 114 of 135 with compared runs."""
    import hyperzoo.report as report

    bars = []

    class Bar:
        def __init__(self, total, **_):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, k):
            self.n += k

        def refresh(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(report, "progress_bar", Bar)
    single = tmp_path / "single"
    one = ["method.name=ensemble", "method.size=1", "train.noise_batch=1", "train.steps=2",
           "train.val_every=2", "train.val_networks=1"]
    train(load_config(None, one), single, argv=["x"], progress=False)
    make_report(runs / "a", tmp_path / "r", compare=[runs / "b", single], pool=4, limit=20, adv_limit=6,
                path_limit=10, detection_sizes=[2], transfer_networks=2)
    assert bars[0].n == bars[0].total


def test_the_adversarial_figure_has_a_colour_per_run_and_no_line_for_nothing_attacked(tmp_path, monkeypatch):
    """With several runs the default colour cycle repeated; a run with nothing attacked was drawn
    as a line at 0%."""
    import matplotlib

    from hyperzoo import figures

    captured = {}
    real = figures.save_figure

    def keep(fig, path, **kwargs):
        captured["lines"] = [(ln.get_label(), matplotlib.colors.to_hex(ln.get_color()), ln.get_linestyle())
                             for ln in fig.axes[0].get_lines() if len(ln.get_xdata())]
        captured["legend"] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        return real(fig, path, **kwargs)

    curves = {f"run{i}": {"FGSM, crafted": [0.1, 0.2], "FGSM, ensemble": [0.0, 0.1],
                          "PGD, crafted": [0.2, 0.3], "PGD, ensemble": [0.1, 0.1]} for i in range(3)}
    curves["empty"] = {name: [None, None] for name in curves["run0"]}
    monkeypatch.setattr(figures, "save_figure", keep)
    figures.adversarial_figure([0.0, 0.1], curves, tmp_path / "adv.png")
    lines = captured["lines"]
    assert len(lines) == 12 and not any(label.startswith("empty") for label, _, _ in lines)
    colours = [colour for _, colour, _ in lines]
    assert len(set(colours)) == 3  # one per run
    assert {style for _, colour, style in lines if colour == colours[0]} == {"-", "--", ":", "-."}
    # One legend entry per run, then the curves' line styles (an entry per run and curve made a
    # legend taller than the plot with 8 runs).
    assert captured["legend"] == ["run0", "run1", "run2", *curves["run0"]]



def test_a_compared_run_of_another_data_set_is_noted(runs, tmp_path, capsys):
    """Scored on the report's test images, which it may have trained on: no word was said."""
    import numpy as np

    from hyperzoo.data import load_dataset

    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    np.savez(tmp_path / "mine.npz", x_train=tr.x.numpy()[::-1].copy(), y_train=tr.y.numpy()[::-1].copy(),
             x_test=te.x.numpy(), y_test=te.y.numpy())
    train(tiny_config("train.steps=1", f"data.dataset={tmp_path / 'mine.npz'}"), tmp_path / "mine",
          argv=["x"], progress=False)
    capsys.readouterr()
    make_report(runs / "a", tmp_path / "r", compare=[tmp_path / "mine"], pool=4, limit=20, adv_limit=6,
                path_limit=10, detection_sizes=[2], transfer_networks=5, progress=False)
    assert f"note: --compare {tmp_path / 'mine'} trained on" in capsys.readouterr().err


def test_many_runs_get_a_legend_beside_the_plot_with_an_entry_per_run(tmp_path, monkeypatch):
    """With 8 compared runs the ensemble figure's 27 entries covered the plot and its title."""
    from hyperzoo import figures

    captured = {}
    real = figures.save_figure

    def keep(fig, path, **kwargs):
        legend = fig.axes[0].get_legend()
        captured.update(texts=[t.get_text() for t in legend.get_texts()], beside=legend.get_bbox_to_anchor()
                        .transformed(fig.axes[0].transAxes.inverted()).x0 > 1, width=fig.get_size_inches()[0])
        return real(fig, path, **kwargs)

    monkeypatch.setattr(figures, "save_figure", keep)
    rows = [{"size": s, "mean_prob_mean": 0.9, "mean_prob_std": 0.01, "majority_mean": 0.9,
             "majority_std": 0.01} for s in (1, 2, 5)]
    figures.ensemble_curve({f"run{i}": (rows, 0.88) for i in range(8)}, tmp_path / "e.png")
    assert captured["texts"] == [*(f"run{i}" for i in range(8)), "mean probability", "majority vote",
                                 "single network (mean)"]
    assert captured["beside"] and captured["width"] > 7.5  # widened for the legend
    # One run: beside too (matplotlib's "best" place inside covered bars and lines).
    figures.ensemble_curve({"run0": (rows, 0.88)}, tmp_path / "one.png")
    assert captured["beside"] and "mean probability: ± 1 std over draws" in captured["texts"]


def test_a_compared_run_that_cannot_take_the_images_is_named(runs, tmp_path, monkeypatch):
    """With several --compare runs the shape error did not say which."""
    import hyperzoo.report
    from hyperzoo.data import DataError

    def refuse(session, data):
        raise DataError("data set 'digits' has inputs of shape (1, 8, 8) but the run's target takes (3, 2)")

    monkeypatch.setattr(hyperzoo.report, "check_input_shape", refuse)
    with pytest.raises(DataError, match=rf"^--compare {runs / 'b'}: data set 'digits' has inputs of shape"):
        make_report(runs / "a", tmp_path / "r", compare=[runs / "b"], pool=4, limit=20, progress=False)


def test_commands_say_when_a_fixed_set_holds_fewer_networks_than_asked(runs, tmp_path, capsys):
    """evaluate --networks 100 on an ensemble of 4 scored 4 without a word (sample said it)."""
    from hyperzoo.workflows import evaluate_run, polyak_run

    m = evaluate_run(runs / "b", n_networks=10, progress=False, out=tmp_path / "m.json")
    assert m["n_networks"] == 4
    err = capsys.readouterr().err
    assert "note: this run's method 'ensemble' holds 4 networks; evaluates those" in err
    assert polyak_run(runs / "b", k=3, limit=20)["networks"] == 3
    assert "members are trained independently" in capsys.readouterr().err


def test_an_ensemble_of_the_whole_pool_has_no_spread_to_give():
    """It printed ± 0.00% for one draw of the whole pool, as if measured."""
    import torch

    from hyperzoo.analysis.ensembles import accuracy_vs_size
    from hyperzoo.report import _pm

    probs = torch.rand(10, 30, 3, generator=torch.Generator().manual_seed(0)).softmax(-1)
    rows = accuracy_vs_size(probs, torch.zeros(30, dtype=torch.long), [5, 10], generator=torch.Generator())
    assert _pm(rows[0], "majority").count("±") == 1
    assert _pm(rows[1], "majority").endswith("% (the pool)") and rows[1]["draws"] == 1
