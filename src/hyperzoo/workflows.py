"""What the CLI does after training: evaluate a run, export its networks."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hyperzoo.analysis.ensembles import accuracy_vs_size
from hyperzoo.data import DATASETS, Dataset, custom, load_dataset, read_for
from hyperzoo.data.custom import unscaled_pixels
from hyperzoo.devices import machine, module_device
from hyperzoo.diversity import sample_entropy
from hyperzoo.errors import ConfigError, DataError, RunError
from hyperzoo.evaluation import (
    ensemble_metrics,
    predict,
    predict_proba,
    regression_metrics,
    reliability_bins,
    uncertainty_metrics,
)
from hyperzoo.evaluation.predictions import mean_prediction
from hyperzoo.notes import note
from hyperzoo.progress import progress_bar
from hyperzoo.runs import CHECKPOINT, checkpoint_step, training_time
from hyperzoo.session import Session, check_target, limit_dataset, load_run, load_split, sample_networks
from hyperzoo.symmetry import GaugeUnavailable, gauge_fix
from hyperzoo.weights import atomic_write_json, atomic_write_text, flatten, save_tensors, select, temporary_of

ENSEMBLE_SIZES = [5, 10, 100, 1000]
ENSEMBLE_DRAWS = 10


def metrics_path(run_dir: str | Path, split: str) -> Path:
    """Where ``evaluate`` keeps the metrics of one split: ``RUN_DIR/metrics-<split>.json``."""
    return Path(run_dir) / f"metrics-{split}.json"


def evaluate_run(run_dir: str | Path, n_networks: int = 100, data_dir: str | None = None,
                 split: str = "test", seed: int = 0, progress: bool = True,
                 session: Session | None = None, data: Dataset | None = None,
                 out: str | Path | None = None, trust_code: bool = False,
                 ensembles: int = 1) -> dict[str, Any]:
    """Metrics of ``n_networks`` sampled networks on ``split``, written to ``out`` (default
    RUN_DIR/metrics-<split>.json, one file per split), with the reliability diagram of the
    ensemble and of the single networks beside it (reliability-<split>.png; beside ``out``, its
    stem + ``-reliability.png``). An ``out`` that is not new or an earlier result is refused
    before any work (`check_json_out`); after that, writing is a best effort: a write error (a
    read-only run folder) is a warning line on stderr; the numbers are still returned.

    Accuracy, and the uncertainty metrics of ``uncertainty_metrics`` (NLL, Brier, ECE, AURC of the
    single networks, mean and std, and of the mean-probability ensemble; disagreement, mutual
    information). A method holding a fixed number of networks (an ensemble, a static
    hypernetwork) gives at most that many; the entropy estimate needs at least two (None
    otherwise). ``session`` is the reopened run (else reopened here); ``data`` other examples to
    score, returned, not written. ``ensembles`` > 1 adds that many *independent* ensembles of
    ``n_networks`` fresh networks each (noise seeds ``seed + 1``, ...; seed 001's "20 ensembles of
    200"): their majority-vote and mean-probability accuracies, mean ± std over ensembles.
    """
    if n_networks < 1:
        raise ConfigError(f"networks (--networks) must be at least 1, got {n_networks}")
    if ensembles < 1:
        raise ConfigError(f"ensembles (--ensembles) must be at least 1, got {ensembles}")
    write = data is None
    if write and out is not None:
        check_json_out(out, EVALUATE_KEYS, run_dir)
        # Asked for by name, the file must be written: a warning and exit 0 left a script
        # believing it was (the run folder's own metrics file stays best effort).
        folder = next(p for p in Path(out).absolute().parents if p.exists())  # the nearest that exists
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise RunError(f"--out {out}: {folder} cannot be written")
        figure = Path(out).parent / f"{Path(out).stem}-reliability.png"
        if figure.exists() and not Path(out).exists():  # beside no earlier result: not ours
            raise RunError(f"{figure} exists beside no earlier result {out}; it is left as it is: "
                           "choose another --out")
    session = session or load_run(run_dir, data_dir, trust_code=trust_code)
    if ensembles > 1 and session.method.max_networks is not None:
        # Refused before any file: a figure written first then blocked that --out.
        raise ConfigError(f"--ensembles needs a method that draws fresh networks; this run holds "
                          f"{session.method.max_networks}")
    n_networks = capped(session, n_networks, "evaluates")
    d = session.config.data
    data = read_for(data, session.method.task) if data is not None else load_split(
        d, split, data_dir, session.method.task)
    check_input_shape(session, data)
    check_target(session.target.module, session.config.target.name, data)  # labels within its outputs
    start = time.perf_counter()
    if data.task == "regression":
        if ensembles > 1:
            raise ConfigError("--ensembles scores independent ensembles' accuracy on class labels; "
                              f"{data.name!r} is a regression set")
        return _evaluate_regression(run_dir, session, data, n_networks, seed, start, out, write)
    with torch.no_grad():
        weights = sample_networks(session, n_networks, seed, progress)
        with progress_bar(total=n_networks, desc="evaluate", show=progress, unit="net") as bar:
            probs = predict_proba(session.target, weights, data.x,
                                  progress=lambda k: bar.update(k - bar.n))
        params = {k: weights[k] for k in session.target.param_shapes}  # statistics are not drawn
        entropy, coinciding = None, 0
        if n_networks > 1:
            try:
                gauged = gauge_fix(session.target, params)
            except GaugeUnavailable:  # a module torch.fx cannot trace: no weight-space entropy
                gauged = None
            if gauged is not None:  # None where networks coincide: the estimate is then -inf
                entropy, coinciding = sample_entropy(flatten(gauged).double(), session.method.latent_dim)
    # Seed 002 Table 4's rows: mean-probability ensembles of 5, 10, ... networks drawn from the
    # pool, ENSEMBLE_DRAWS random ones per size below the pool size (the pool itself is
    # ensemble_accuracy).
    by_size = accuracy_vs_size(probs, data.y, [s for s in ENSEMBLE_SIZES if s < n_networks],
                               count=ENSEMBLE_DRAWS, generator=torch.Generator().manual_seed(seed))
    from hyperzoo import figures

    unc = uncertainty_metrics(probs, data.y)
    n = probs.shape[0]
    path = Path(out) if out is not None else metrics_path(run_dir, split)
    # Beside --out FILE, named after it: a reliability-<split>.png there may be someone else's.
    figure_path = path.parent / (f"{path.stem}-reliability.png" if out is not None
                                 else f"reliability-{split}.png")
    figure = None
    if write:  # examples passed in from Python are scored, not written into the run folder
        try:
            figure = figures.reliability_diagram({
                f"ensemble of {n} (ECE {unc['ensemble_ece']:.4f})":
                    reliability_bins(mean_prediction(probs), data.y),
                f"{n} single networks' predictions pooled (per-network ECE {unc['mean_ece']:.4f} mean)":
                    reliability_bins(probs.flatten(0, 1), data.y.repeat(n)),
            }, figure_path, f"run {Path(run_dir).name} ({session.config.method_name}), {len(data):,} "
               f"{data.name} {data.split} images")
        except OSError as e:
            _unwritten(figure_path, e, out is not None)
    metrics: dict[str, Any] = {
        **ensemble_metrics(probs, data.y),
        **unc,
        "reliability_figure": figure,
        "ensemble_accuracy_by_size": {str(r["size"]): r["mean_prob_mean"] for r in by_size},
        "ensemble_accuracy_std_by_size": {str(r["size"]): r["mean_prob_std"] for r in by_size},
        "ensemble_draws": ENSEMBLE_DRAWS,
        "entropy_estimate": entropy,
        "coinciding_networks": coinciding,
        # The dimension the estimate takes: the latent space's, else the weights' count (values
        # of different d are not comparable; the report records it too).
        "entropy_d": session.method.latent_dim or session.target.num_weights,
        "dataset": data.name,
        "split": data.split,
        "n_examples": len(data),
        "seed": seed,
        **provenance(run_dir, session, start),
    }
    if ensembles > 1:
        metrics["independent_ensembles"] = independent_ensembles(session, data, n_networks, ensembles,
                                                                 seed + 1, progress)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
    if write:
        try:
            atomic_write_json(path, metrics)
        except OSError as e:
            _unwritten(path, e, out is not None)
    return metrics


def provenance(run_dir: str | Path, session: Session, start: float) -> dict[str, Any]:
    """What a metrics file says about where its numbers come from: the checkpoint evaluated, its
    training time and hardware, and the seconds since ``start`` with the hardware and threads they
    ran on."""
    return {"run": str(Path(run_dir).resolve()), "run_id": session.config.run_id,
            "checkpoint": session.checkpoint, "checkpoint_step": session.checkpoint_step,
            # Where training stands (the last checkpoint's step), beside the one scored (best.safetensors
            # where train.keep_best kept one): evaluate says an interrupted run is one.
            "train_steps": session.config.train.steps, "trained_steps": checkpoint_step(Path(run_dir)),
            **training_time(Path(run_dir), session.checkpoint or CHECKPOINT),
            "seconds": round(time.perf_counter() - start, 3),
            "machine": machine(module_device(session.method)),
            "threads": torch.get_num_threads()}


def independent_ensembles(session: Session, data: Dataset, size: int, count: int, seed: int,
                          progress: bool = False) -> dict[str, Any]:
    """Accuracy of ``count`` ensembles of ``size`` networks, each drawn fresh (noise seeds
    ``seed``, ``seed + 1``, ...), by majority vote (ties to the lowest class) and by mean
    probability: per ensemble and mean ± std."""
    majority, mean_prob = [], []
    for k in progress_bar(range(count), desc="ensembles", show=progress, unit="ens"):
        with torch.no_grad():
            probs = predict_proba(session.target, sample_networks(session, size, seed + k), data.x)
        m = ensemble_metrics(probs, data.y)
        majority.append(m["majority_accuracy"])
        mean_prob.append(m["ensemble_accuracy"])
    maj, mp = torch.tensor(majority, dtype=torch.float64), torch.tensor(mean_prob, dtype=torch.float64)
    return {"count": count, "size": size, "first_seed": seed, "majority": majority, "mean_prob": mean_prob,
            # One ensemble has no spread to give (None, not a measured 0).
            "majority_mean": maj.mean().item(), "majority_std": maj.std().item() if count > 1 else None,
            "mean_prob_mean": mp.mean().item(), "mean_prob_std": mp.std().item() if count > 1 else None}


def _evaluate_regression(run_dir: str | Path, session: Session, data: Dataset, n_networks: int, seed: int,
                         start: float, out: str | Path | None, write: bool) -> dict[str, Any]:
    """`evaluate_run` for a regression set: RMSE of single networks and of their mean, spread."""
    weights = sample_networks(session, n_networks, seed)
    metrics: dict[str, Any] = {
        **regression_metrics(predict(session.target, weights, data.x)[..., 0], data.y),
        "dataset": data.name, "split": data.split, "n_examples": len(data), "seed": seed,
        **provenance(run_dir, session, start),
    }
    if write:
        path = Path(out) if out is not None else metrics_path(run_dir, data.split)
        try:
            atomic_write_json(path, metrics)
        except OSError as e:
            _unwritten(path, e, out is not None)
    return metrics


# Written into a result folder (report, ood) before its first file: the folder is hyperzoo's.
RESULT_MARK = ".hyperzoo-result"


def check_result_dir(out: str | Path, marker: str, own: Callable[[str], bool], keys: frozenset[str],
                     run_dir: str | Path | None = None) -> None:
    """``--out DIR`` for a command's files (``ood``, ``report``), checked before any work: new,
    empty, or an earlier result of the command, whole or stopped: it holds `RESULT_MARK`, or
    (written before the mark) a ``marker`` JSON object with ``keys``. Its files of the command's
    names (``own``) are replaced; nothing else in it is touched. Never a file, a run, or a
    folder of a user's files, even ones named as the command's (a user's report.md)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; expected a folder for the results")
    if not out.is_dir() or not any(out.iterdir()):
        return
    command, mark = marker.split(".")[0], _mark_of(out)
    # The mark names its command: a folder a stopped `ood` left is not the report's to take over.
    earlier = _json_object(out / marker) or {}
    if mark == command or (mark is None and keys <= earlier.keys()):
        # Of the same run (``run_dir``), where the earlier result says whose it is.
        ours = _run_id(Path(run_dir)) if run_dir is not None else None
        if ours is not None and earlier.get("run_id") not in (None, ours):
            raise RunError(f"--out {out} holds hyperzoo {command}'s results for another run (run_id "
                           f"{earlier['run_id']!r}; {run_dir} is {ours!r}); use a new or empty folder")
        return
    if mark is not None:
        raise RunError(f"--out {out} holds the results of hyperzoo {mark}, not of {command}; use a new or "
                       "empty folder")
    _refuse_a_run(out, f"hyperzoo {command}'s results")
    names = sorted(p.name for p in out.iterdir())
    other = [n for n in names if not own(n) and temporary_of(out / n) is None]
    raise RunError(f"--out {out} holds {_first_shown(other or names)!r}, which is not part of an earlier "
                   f"hyperzoo {command} result; use a new or empty folder (an earlier result is replaced)")


def _refuse_a_run(out: Path, what: str) -> None:
    """A run folder given as ``--out`` for other files is named as one (the refusal named its
    hidden .lock)."""
    if (out / "config.yaml").is_file():
        raise RunError(f"--out {out} is a run folder; give a new or empty folder for {what}")


def _first_shown(names: list[str]) -> str:
    """The first of ``names`` a user sees in a listing (not a hidden file), else the first."""
    return next((n for n in names if not n.startswith(".")), names[0])


def claim_result_dir(out: Path, command: str) -> None:
    """Make ``out`` (checked by `check_result_dir`) and mark it as ``command``'s result folder
    (``report``, ``ood``), before the command writes its first file there."""
    out.mkdir(parents=True, exist_ok=True)
    if _mark_of(out) != command:
        atomic_write_text(out / RESULT_MARK, f"hyperzoo {command}\nwritten by hyperzoo: the results of "
                                             "this command, replaced by its next run into this folder\n")


def _mark_of(out: Path) -> str | None:
    """The command whose results ``out`` holds, by its `RESULT_MARK` (None: unmarked)."""
    try:
        first = (out / RESULT_MARK).read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return None
    return first.removeprefix("hyperzoo ") if first.startswith("hyperzoo ") else None


def _json_object(path: Path) -> dict[str, Any] | None:
    """``path``'s JSON object, or None (missing, unreadable, not JSON, not an object)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def ood_file(name: str) -> bool:
    """A file `ood_run` writes into its --out folder."""
    return name in ("ood.json", "ood_cdf.png", "command.txt")


EVALUATE_KEYS = frozenset({"dataset", "split", "n_examples", "n_networks", "checkpoint_step"})
OOD_KEYS = frozenset({"inliers", "n_networks", "sets"})
POLYAK_KEYS = frozenset({"dataset", "split", "n_examples", "polyak_accuracy"})


# Suffixes of what a JSON --out FILE is not: a network, a tensor file, a figure, a config.
NOT_JSON = frozenset({".safetensors", ".pt", ".pth", ".ckpt", ".npz", ".npy", ".png", ".yaml", ".yml"})


def check_json_out(out: str | Path, keys: frozenset[str], run_dir: str | Path | None = None) -> None:
    """``--out FILE`` for numbers as JSON, checked before any work: a new file, or an earlier
    result of the same command for the same run (``run_dir``) to replace (a JSON object with all
    of ``keys``); never a folder or any other file (a checkpoint, a user's data, another
    command's result, another run's result: one run's numbers silently took another's place)."""
    out = Path(out)
    if out.is_dir():
        raise RunError(f"--out {out} is a folder; expected a file to write JSON into, "
                       f"e.g. {out / 'metrics.json'}")
    ours = _run_id(Path(run_dir)) if run_dir is not None else None
    theirs = _run_id(out.parent)
    if ours is not None and theirs is not None and theirs != ours:
        # evaluate RUN_A --out RUN_B/metrics-test.json wrote A's numbers under B's own result's
        # name, the command recorded in neither folder.
        raise RunError(f"--out {out} lies in another run's folder ({out.parent} is run {theirs!r}, "
                       f"{run_dir} is {ours!r}); write it outside that folder")
    if not out.exists():
        if out.suffix.lower() in NOT_JSON:
            # polyak --out averaged.safetensors wrote 300 bytes of JSON numbers under that name.
            raise ConfigError(f"--out {out}: this command writes its numbers as JSON there, not a "
                              f"{out.suffix} file; name it .json (networks: hyperzoo sample, or "
                              "hyperzoo.analysis.polyak.polyak_average in Python for an averaged one)")
        return
    earlier = _json_object(out)
    if not (earlier is not None and keys <= earlier.keys()):
        raise RunError(f"--out {out} exists and is not an earlier hyperzoo result; it is left as it is: "
                       "choose a new file")
    if ours is None:  # not a run folder (or one without an id): reopening it says what is wrong
        return
    # A result outside another run's folder (that case is refused above) says whose it is itself.
    theirs = earlier.get("run_id")
    if theirs is not None and theirs != ours:
        raise RunError(f"--out {out} holds the result of another run (run_id {theirs!r}; {run_dir} is "
                       f"{ours!r}); it is left as it is: choose a new file")


def _run_id(folder: Path) -> str | None:
    """The ``run_id`` a run folder's config.yaml records, or None (no run folder, no id)."""
    import yaml

    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return config.get("run_id") if isinstance(config, dict) else None


def _unwritten(path: Path, e: OSError, asked: bool) -> None:
    """A result file that could not be written: an error where the user named it (``asked``),
    else a warning (the run folder's own copy is best effort)."""
    if asked:
        raise RunError(f"could not write {path} ({e.strerror or e})") from e
    print(f"warning: could not write {path} ({e.strerror or e}); the numbers are only printed "
          "(--out FILE writes them elsewhere)", file=sys.stderr)


NETWORK_FILE = re.compile(r"network_\d{4,}\.safetensors")
MANIFEST_KEYS = frozenset({"target", "files", "n_networks", "load"})


def _check_export_dir(out: Path) -> None:
    """``out`` may be new, empty, or an earlier export (manifest.json, network files, and
    temporaries of an interrupted write), which its manifest or `RESULT_MARK` vouches for;
    anything else is a user's folder: refuse. (Network files alone were taken for an export:
    a folder of networks the user had copied was replaced, those beyond -n deleted.)"""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return
    other = sorted(p.name for p in out.iterdir() if not (
        p.name == "manifest.json" or NETWORK_FILE.fullmatch(p.name)
        or (p.name.startswith(".") and p.name.endswith(".tmp")) or p.name == RESULT_MARK))
    if other:
        _refuse_a_run(out, "the exported networks")
        raise RunError(f"--out {out} holds {_first_shown(other)!r}, which is not part of an export of "
                       "networks; use a new or empty folder (an earlier export is replaced)")
    manifest = out / "manifest.json"
    if manifest.exists() and not MANIFEST_KEYS <= (_json_object(manifest) or {}).keys():
        # A manifest.json of the user's own (an app's) was replaced.
        raise RunError(f"--out {out} holds a manifest.json that is not an export's; use a new or empty "
                       "folder")
    networks = [p.name for p in out.iterdir() if NETWORK_FILE.fullmatch(p.name)]
    if networks and not manifest.exists() and _mark_of(out) != "sample":
        raise RunError(f"--out {out} holds {sorted(networks)[0]!r} but no export's manifest.json: network "
                       "files hyperzoo did not write there (a copy of yours, or an export stopped before "
                       "its manifest by an older version: delete it); use a new or empty folder")


def export_networks(run_dir: str | Path, n: int, out: str | Path, seed: int = 0,
                    session: Session | None = None, trust_code: bool = False,
                    progress: bool = True) -> list[Path]:
    """Write ``n`` sampled networks as safetensors state dicts of the plain target module.

    An earlier export in ``out`` is replaced: its manifest goes first, network files beyond the
    new ``n`` are deleted after the new manifest is written; a folder holding anything else is
    refused."""
    if n < 1:
        raise ConfigError(f"the number of networks to export (n, -n) must be at least 1, got {n}")
    out = Path(out)
    _check_export_dir(out)
    session = session or load_run(run_dir, trust_code=trust_code)
    n = capped(session, n, "exports")  # fewer files than asked for: said
    weights = sample_networks(session, n, seed, progress=progress)
    # The mark first: an export stopped between the manifest's removal and the new one's can be
    # redone into its folder, which holds network files but no manifest.
    claim_result_dir(out, "sample")
    # No manifest while the files change: a crash never leaves one describing other networks.
    (out / "manifest.json").unlink(missing_ok=True)
    # The module's persistent buffers only: a non-persistent one is not in a state dict, so
    # saving it would make every file fail a strict load_state_dict.
    module = session.target.module
    state = module.state_dict()
    buffers = {k: b for k, b in module.named_buffers() if k in state}
    t = session.config.target
    paths = []
    for i in range(n):
        path = out / f"network_{i:04d}.safetensors"
        # The network's own running statistics (if any) replace the module's. The constructor's
        # arguments go in every file: a flag without weights (an input standardisation) changes
        # the function a state dict computes, and a file may travel without its manifest.
        save_tensors(path, {**buffers, **select(weights, i)},
                     {"target": t.name, "target_kwargs": json.dumps(t.kwargs, sort_keys=True),
                      "run": str(run_dir), "seed": seed, "index": i})
        paths.append(path)
    atomic_write_json(out / "manifest.json", {
        "target": t.name, "target_kwargs": t.kwargs, "module_class": t.module_class,
        "input_shape": session.target.input_shape, "dataset": session.config.data.dataset,
        # Absolute, and which model: an export while a run trains comes from that step.
        "run": str(Path(run_dir).resolve()), "checkpoint": getattr(session, "checkpoint", None),
        "checkpoint_step": getattr(session, "checkpoint_step", None),
        "seed": seed, "n_networks": n, "files": [p.name for p in paths],
        # What the networks were trained on: fed raw uint8 pixels, they compute something else.
        "inputs": "float32, as hyperzoo reads the data set: " + (
            "scikit-learn's digits (0-16) divided by 16" if session.config.data.dataset == "digits"
            else "8-bit pixels divided by 255 (to [0, 1]), floating-point inputs as given"),
        "load": "module = hyperzoo.targets.build_target(target, target_kwargs) (a built-in name or an "
                "import path 'package.module:Class', or your own class module_class built with "
                "target_kwargs); module.load_state_dict(safetensors.torch.load_file(path))",
    })
    keep = {p.name for p in paths}
    for old in out.iterdir():
        if NETWORK_FILE.fullmatch(old.name) and old.name not in keep:
            old.unlink()
    return paths


def same_images_fraction(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of images of ``b`` that also occur in ``a``, compared at 8-bit precision."""
    if a.shape[1:] != b.shape[1:]:
        return 0.0

    def keys(x: torch.Tensor) -> list[bytes]:
        return [row.cpu().numpy().tobytes() for row in (x.flatten(1) * 255).round().to(torch.uint8)]

    seen = set(keys(a))
    return sum(k in seen for k in keys(b)) / len(b)


def check_outliers_differ(inliers: Dataset, outliers: Dataset) -> float:
    """Fraction of outlier images also among the inliers; raises when it is most of them (the
    reference implementation's "notMNIST" loader returned MNIST)."""
    overlap = same_images_fraction(inliers.x, outliers.x)
    if overlap > 0.5:
        raise DataError(f"{overlap:.0%} of the '{outliers.name}' images are also in the inlier set "
                         f"'{inliers.name}'; the out-of-distribution data is not different")
    return overlap


def capped(session: Session, n: int, verb: str | None) -> int:
    """``n`` networks, or as many as the run's method holds (a fixed set: an ensemble, snapshots),
    said in a note where fewer (evaluate of 100 on a set of 10 scored 10 without a word); not
    said without a ``verb`` (the report, whose pools report.json records per run)."""
    held = session.method.capped(n)
    if held < n and verb is not None:
        note(f"this run's method {session.config.method_name!r} holds {held} network"
             f"{'' if held == 1 else 's'}; {verb} {'it' if held == 1 else 'those'}")
    return held


def ood_predictions(session: Session, sets: list[Dataset], n_networks: int, seed: int,
                    progress: bool = False, say_capped: bool = True) -> list[torch.Tensor]:
    """Probabilities of one draw of ``n_networks`` sampled networks (at most the method's count)
    on each of ``sets`` (inliers first, then outlier sets), ``(N, B, C)`` each; ``progress``: a
    bar per set. One draw for all: the inliers are scored once, whatever the outlier sets."""
    n = capped(session, n_networks, "scores" if say_capped else None)
    with torch.no_grad():
        weights = sample_networks(session, n, seed, progress)
        probs = []
        for data in sets:
            with progress_bar(total=n, desc=f"ood {data.name}", show=progress, unit="net") as bar:
                probs.append(predict_proba(session.target, weights, data.x,
                                           progress=lambda k, bar=bar: bar.update(k - bar.n)))
        return probs


def refuse_regression(session: Session, what: str) -> None:
    """One line when a command of class probabilities (``what`` it does) meets a regression run."""
    if session.method.task == "regression":
        raise ConfigError(f"{what}; this run is a regression run")


def check_input_shape(session: Session, data: Dataset) -> None:
    """One line when ``data``'s examples do not have the shape the run's target takes."""
    want = tuple(session.target.input_shape)
    if tuple(data.input_shape) != want:
        # A file's (n, C, L) read as (n, H, W) images gained a channel: say how to take it as it is.
        hint = (f"; its examples were read as one-channel images: an .npz of inputs shaped {want} "
                f"says so in an input_shape key" if tuple(data.input_shape) == (1, *want) else "")
        raise DataError(f"data set {data.name!r} has inputs of shape {data.input_shape} but the run's "
                        f"target takes {want}" + (" (C, H, W)" if len(want) == 3 else "") + hint)


def load_outliers(ref: str | Dataset, data_dir: str | None) -> Dataset:
    """An outlier set's test split: a built-in name (looked up in ``data_dir``), a path to an IDX
    folder, a CIFAR-format folder or an .npz (see ``hyperzoo.data.custom``; an .npz of ``x_test``
    alone or an IDX folder of ``t10k-images`` alone too: detection reads no labels), or a Dataset."""
    if isinstance(ref, Dataset):
        return ref
    path = custom.resolve_path(ref, data_dir) if ref not in DATASETS else None
    x = custom.unlabelled_test_images(path) if path is not None else None
    if x is not None:  # labels of one class, never read
        return Dataset(x, torch.zeros(len(x), dtype=torch.long), custom.dataset_name(path), "test", 1)
    return load_dataset(ref, "test", data_dir)


def checked_outliers(session: Session, ref: str | Dataset, inliers: Dataset, data_dir: str | None,
                     limit: int | None) -> tuple[Dataset, float]:
    """An outlier set (`load_outliers`, its first ``limit`` examples) that the run's target takes
    and that is not mostly ``inliers``; and the fraction of it that is (`check_outliers_differ`)."""
    try:
        outliers = limit_dataset(load_outliers(ref, data_dir), limit)
    except DataError as e:  # a built-in outlier set's folder is ood's --outlier-dir
        raise DataError(str(e).replace("needs --data-dir", "needs --outlier-dir (or --data-dir)")) from e
    check_input_shape(session, outliers)
    overlap = check_outliers_differ(inliers, outliers)
    if overlap > 0:  # refused above half; below it said nowhere but ood.json
        note(f"{overlap:.1%} of the {outliers.name!r} images are also in the inlier set; their "
             "scores count as outliers'")
    if float(inliers.x.max()) <= 1.5 and unscaled_pixels(outliers.x):
        # A float file saved at 0-255 against inputs in [0, 1]: scored without a word, it read
        # as in-distribution (AUROC 0.25 for the inliers themselves, rescaled). Noise sets of
        # other ranges (Gaussian noise spans about ±4) are not this.
        note(f"the {outliers.name!r} inputs reach {float(outliers.x.max()):g} "
             f"against inliers in [{float(inliers.x.min()):g}, {float(inliers.x.max()):g}]: 0-255 "
             "pixels saved as floats? they are scored as given")
    return outliers, overlap


def ood_run(run_dir: str | Path, outliers: str | Dataset | list[str | Dataset], n_networks: int = 100,
            data_dir: str | None = None, limit: int | None = None, seed: int = 0,
            out: str | Path | None = None, progress: bool = True, outlier_dir: str | None = None,
            session: Session | None = None, inliers: Dataset | None = None,
            trust_code: bool = False) -> dict[str, Any]:
    """Predictive entropy and mutual information of ``n_networks`` sampled networks on the run's
    test set (inliers, from ``data_dir`` or the run's own folder) and on each outlier set (names
    from ``outlier_dir``, else the inliers' folder; or paths; see ``load_outliers``): detection
    metrics by each score (outliers positive) per set, each under its own name in ``sets``, and
    an empirical-CDF figure of the entropy. With one set its metrics are also at the top level."""
    from hyperzoo import figures
    from hyperzoo.evaluation.ood import POSITIVE_CLASS, detection_by_score, ood_scores

    if n_networks < 1:
        raise ConfigError(f"networks (--networks) must be at least 1, got {n_networks}")
    if out is not None:
        check_result_dir(out, "ood.json", ood_file, OOD_KEYS, run_dir)
    refs = outliers if isinstance(outliers, list) else [outliers]
    if not refs:
        raise DataError("give at least one outlier set (outliers, --outliers NAME_OR_PATH)")
    session = session or load_run(run_dir, data_dir, trust_code=trust_code)
    refuse_regression(session, "ood scores inputs by the entropy and mutual information of class "
                               "probabilities")
    d = session.config.data
    if inliers is None:
        inliers = load_split(d, "test", data_dir)
    inliers = limit_dataset(inliers, limit)
    check_input_shape(session, inliers)
    sets: dict[str, dict[str, Any]] = {}
    curves_out: dict[str, torch.Tensor] = {}
    as_given = [isinstance(r, Dataset) or (r not in DATASETS and Path(r).expanduser().exists()) for r in refs]
    if outlier_dir is not None and all(as_given):
        note(f"--outlier-dir {outlier_dir} is where outlier sets named or not found as given are "
             "looked up; every set here was found as given, so it is not used")
    # Every set checked before the first is scored: a bad second set failed after the work.
    checked = [checked_outliers(session, ref, inliers, outlier_dir or data_dir or d.data_dir, limit)
               for ref in refs]
    # One draw of networks, the inliers scored once (they were again for every outlier set).
    p_in, *p_outs = ood_predictions(session, [inliers, *(o for o, _ in checked)], n_networks, seed, progress)
    n, s_in = p_in.shape[0], ood_scores(p_in)
    h_in = s_in["entropy"]
    for (outlier, overlap), p_out in zip(checked, p_outs, strict=True):
        name = outlier.name if outlier.name not in sets else f"{outlier.name} ({len(sets) + 1})"
        s_out = ood_scores(p_out)
        h_out = s_out["entropy"]
        scores = detection_by_score(s_in, s_out)
        sets[name] = {"positive_class": f"{POSITIVE_CLASS} ({name})", "n_outliers": len(h_out),
                      "image_overlap": overlap,
                      # The entropy's metrics at the top of each set, as before the MI score.
                      **{k: scores["entropy"][k] for k in ("auroc", "aupr", "fpr_at_95_tpr")},
                      "mean_entropy_outliers": h_out.mean().item(), "scores": scores}
        curves_out[f"{name} (outliers, AUROC {sets[name]['auroc']:.3f})"] = h_out
    result: dict[str, Any] = {"run": str(Path(run_dir).resolve()), "run_id": session.config.run_id,
                              "inliers": inliers.name, "n_networks": n, "n_inliers": len(h_in),
                              "mean_entropy_inliers": h_in.mean().item(), "outliers": list(sets),
                              "sets": sets}
    if len(sets) == 1:
        result.update(next(iter(sets.values())), outliers=next(iter(sets)))
    if out is not None:
        out = Path(out)
        claim_result_dir(out, "ood")
        result["figure"] = figures.entropy_cdf(
            {f"{inliers.name} (inliers)": h_in}, curves_out, out / "ood_cdf.png",
            f"run {Path(run_dir).name} ({session.config.method_name}), {n} networks, {len(h_in):,} "
            f"{inliers.name} {inliers.split} images; AUROC by predictive entropy")
        atomic_write_json(out / "ood.json", result)
    return result


def polyak_run(run_dir: str | Path, k: int = 10, data_dir: str | None = None, split: str = "test",
               limit: int | None = None, seed: int = 0, coordinates: str = "gauge",
               trust_code: bool = False, session: Session | None = None) -> dict[str, Any]:
    """Seed 003 §4.4 on a trained run: ``k`` sampled networks averaged into one; accuracy of the
    samples and their ensemble (before) and of the averaged network (after) on ``split``."""
    from hyperzoo.analysis.polyak import polyak_accuracies
    from hyperzoo.session import statistics_images

    if k < 1:
        raise ConfigError(f"-k must be at least 1, got {k}")
    if coordinates not in ("gauge", "raw"):
        raise ConfigError(f"--coordinates {coordinates!r} is not one of 'gauge', 'raw'")
    session = session or load_run(run_dir, data_dir, trust_code=trust_code)
    refuse_regression(session, "polyak scores the averaged network's accuracy on class labels")
    k = capped(session, k, "averages")
    if session.config.method_name == "ensemble" and k > 1:
        note("a deep ensemble's members are trained independently, from their own initialisations: "
             "their weights do not share a basin, so their average is not expected to be a good network")
    d = session.config.data
    data = limit_dataset(load_split(d, split), limit)
    weights = sample_networks(session, k, seed)
    stats_x = statistics_images(session) if session.target.has_statistics else None
    return {**polyak_accuracies(session.target, weights, data.x, data.y, coordinates,  # type: ignore[arg-type]
                                stats_x, d.bn_batch),
            "dataset": data.name, "split": split, "n_examples": len(data), "seed": seed,
            "run": str(Path(run_dir).resolve()), "run_id": session.config.run_id}
