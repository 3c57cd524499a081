"""The ``hyperzoo`` command line: train, sample, evaluate, demo."""

from __future__ import annotations

import errno
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import yaml

import hyperzoo.process_setup  # noqa: F401  (first: it must run before torch is imported)
from hyperzoo.config import MAX_THREADS, load_config
from hyperzoo.errors import ConfigError, UserError
from hyperzoo.notes import process_rank, torchrun_prefix

# Help piped or captured (no terminal) was laid out for 80 columns, cutting long option names
# ("--transfer-netwo…"). Set on typer's module, not in the environment every child inherits;
# a typer without rich (before 0.12, `rich` was optional) lays help out itself.
try:
    import typer.rich_utils as _rich_help
except ImportError:
    _rich_help = None
if (_rich_help is not None and not sys.stdout.isatty() and _rich_help.MAX_WIDTH is None
        and "COLUMNS" not in os.environ):
    _rich_help.MAX_WIDTH = 120

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Hypernetworks that generate whole neural networks.")

# Errors a user can fix (bad input; I/O such as a read-only folder or a full disk; YAML syntax);
# anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError, OSError, yaml.YAMLError)

THREADS_HELP = "torch threads (default: torch's, the core count; 1 when jobs share cores)"
Threads = Annotated[int | None, typer.Option(help=THREADS_HELP)]
TrainThreads = Annotated[int | None, typer.Option(help=THREADS_HELP.replace("(", "(train.threads; ", 1))]
TRUST_HELP = "allow a target given by import path in the run folder's config.yaml (runs its code)"
Seed = Annotated[int, typer.Option(help="noise seed of the sampled networks (one seed, the same networks)")]
TrainSeed = Annotated[int, typer.Option(help="training seed (train.seed)")]
Quiet = Annotated[bool, typer.Option(help="no progress bar")]
Split = Annotated[str, typer.Option(help="split scored: test, val (the examples training held out), train "
                                         "or trainval, as the data set has them")]


def _version(value: bool) -> None:
    if value:
        from hyperzoo import __version__

        typer.echo(f"hyperzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="print the version and exit")] = False) -> None:
    """Hypernetworks that generate whole neural networks."""


ImportPaths = Annotated[list[Path], typer.Option(
    help="folder to import target.name's module from (the working directory is searched too)")]


def _use_threads(threads: int | None) -> None:
    """This command's torch thread count (``--threads``; None: torch's default), checked before
    any work as ``train.threads`` is."""
    if threads is None:
        return
    if not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"--threads must be between 1 and {MAX_THREADS}, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _trusted(trust_code: bool, import_path: list[Path]) -> bool:
    """``--trust-code``, with the folders of ``--import-path`` searched for the target's module:
    a run trained with --import-path reopened only with PYTHONPATH set (the error's advice was a
    flag only train took)."""
    from hyperzoo.targets.registry import add_import_paths

    add_import_paths(list(import_path))
    return trust_code


def _record(folder: Path) -> None:
    """Append this command line to ``folder``/command.txt: a run folder keeps every command that
    wrote into it, an output folder the command that made it (best effort, like metrics files)."""
    from hyperzoo.runs import record_command

    record_command(folder, ["hyperzoo", *sys.argv[1:]])


def _check_data_dir(data_dir: str | None) -> None:
    """``--data-dir`` must be a folder: a mistyped one was ignored where the data set needs none
    (digits), and recorded in the run's config."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise ConfigError(f"--data-dir {data_dir} is not a folder")


def _fail(error: Exception) -> None:
    """One line on stderr, exit status 1. Under torchrun a config error, the same in every
    process, is said by rank 0 alone (it was printed once per process); any other error (a file
    one machine lacks) by each, the others' marked with their rank."""
    rank = process_rank()
    if rank == 0 or not isinstance(error, ConfigError):
        typer.echo(f"{f'rank {rank}: ' if rank else ''}error: {' '.join(str(error).split())}", err=True)
    raise typer.Exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is: a cluster's preemption, or torchrun
    stopping the other processes when one dies, ended the run without a word."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within it, SIGTERM stops the command as Ctrl-C does (the run keeps its last checkpoint)."""
    def stop(signum: int, frame: object) -> None:
        raise Terminated
    if threading.current_thread() is not threading.main_thread():  # signal handlers: main thread only
        yield
        return
    kept = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, kept)


def _interrupted(run_dir: Path, import_paths: list[Path], again: bool = False,
                 terminated: bool = False) -> None:
    """Ctrl-C in training: where the run stands and how to go on (it stopped in silence), then
    exit status 130, as for any command stopped by SIGINT (143 and "terminated" for SIGTERM).
    ``again``: the way on is the command itself (demo, toy, toy-regression continue their run,
    then write what they write)."""
    word, code = ("terminated", 143) if terminated else ("interrupted", 130)
    if process_rank() != 0:  # every process stops at once: rank 0 says where the run stands
        raise typer.Exit(code)
    if not (run_dir / "config.yaml").is_file():
        typer.echo(f"{word} before {run_dir} was set up", err=True)
        raise typer.Exit(code)
    again_command = shlex.join(["hyperzoo", *sys.argv[1:]]) if again else None
    typer.echo(f"{word}: {_where_it_stands(run_dir, import_paths, again_command)}", err=True)
    raise typer.Exit(code)


def _where_it_stands(run_dir: Path, import_paths: list[Path], command: str | None = None) -> str:
    """``RUN keeps its checkpoint of step N; continue with: hyperzoo train --resume RUN`` (with
    the torchrun launch it was started by, where it was; the ``--import-path`` folders it was
    given, and ``--trust-code`` for a target named by import path, without which the resume
    refuses to import it); ``command`` in its place where the way on is another command."""
    from hyperzoo.runs import checkpoint_step, read_config

    try:
        step = checkpoint_step(run_dir)
    except UserError:
        return f"{run_dir}'s checkpoint cannot be read (hyperzoo verify {run_dir} says more)"
    kept = (f"keeps its checkpoint of step {step}" if step is not None
            else "has no checkpoint yet (resuming starts it again from step 0)")
    try:
        imported = ":" in read_config(run_dir).target.name
    except UserError:
        imported = False
    flags = "".join(f" --import-path {shlex.quote(str(p))}" for p in import_paths)
    flags += " --trust-code" if imported else ""
    if command is not None:  # the way on is a command of its own (demo, toy: run it again)
        return f"{run_dir} {kept}; continue with: {command}"
    resume = f"hyperzoo train --resume {shlex.quote(str(run_dir))}{flags}"
    return f"{run_dir} {kept}; continue with: {torchrun_prefix()}{resume}"


def _nothing_written(how: str) -> None:
    """Say, on stderr, that a command which writes only on request wrote nothing (``evaluate``
    writes by default: users running both were caught out)."""
    typer.echo(f"(printed only, nothing written: {how})", err=True)


def _duration(seconds: float) -> str:
    """``75.3`` -> ``1 min 15 s``; ``3725`` -> ``1 h 2 min``."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _of_step(m: dict) -> str:
    """Which model was scored: evaluate while a run trains scores its latest checkpoint, and an
    interrupted run's says so (it read as a finished run's)."""
    step, steps, trained = m.get("checkpoint_step"), m.get("train_steps"), m.get("trained_steps")
    if step is None:
        return ""
    if steps is not None and trained is not None and trained < steps:  # a kept best model's run too
        return f" (checkpoint of step {step}; the run is unfinished, at step {trained} of {steps})"
    return f" (checkpoint of step {step})"


def _spread(std: float | None) -> str:
    """`` ± std`` over draws; nothing for one draw, which has none."""
    return "" if std is None else f" ± {std:.2%}"


def _drawn(m: dict, size: str, mean: float) -> str:
    """``mean ± std (K draws of the pool)`` of evaluate's ensembles of one size (metrics from before
    the spread was kept: the mean alone)."""
    std = m.get("ensemble_accuracy_std_by_size", {}).get(size)
    return f"{mean:.2%}{_spread(std)} ({m['ensemble_draws']} draws from the {m['n_networks']}, which overlap)"


def _table(metrics: dict) -> str:
    m = metrics
    if "mean_rmse" in m:  # a regression set
        from hyperzoo.evaluation.regression import gaussian_nll_text  # torch: not at start-up
        rows = [("networks", f"{m['n_networks']}" + _of_step(m)),
                ("data", f"{m['dataset']} / {m['split']} ({m['n_examples']} examples)"),
                ("single network RMSE", f"{m['mean_rmse']:.4g} ± {m['std_rmse']:.4g} "
                                        f"(min {m['min_rmse']:.4g}, max {m['max_rmse']:.4g})"),
                ("ensemble mean RMSE", f"{m['ensemble_rmse']:.4g}"),
                *((("predictive std (mean)", f"{m['mean_predictive_std']:.4g}"),
                   ("Gaussian NLL (ensemble)", gaussian_nll_text(m)))
                  if "mean_predictive_std" in m else ())]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    rows = [("networks", f"{m['n_networks']}" + _of_step(m)),
            ("data", f"{m['dataset']} / {m['split']} ({m['n_examples']} examples)"),
            ("single network", f"{m['mean_accuracy']:.2%} ± {m['std_accuracy']:.2%} "
                               f"(min {m['min_accuracy']:.2%}, max {m['max_accuracy']:.2%})"),
            ("ensemble (mean prob.)", f"{m['ensemble_accuracy']:.2%}"),
            ("ensemble (majority)", f"{m['majority_accuracy']:.2%}"),
            *((f"ensembles of {k} (mean prob.)", _drawn(m, k, v))
              for k, v in m.get("ensemble_accuracy_by_size", {}).items()),
            *((f"{name} (single / ensemble)", f"{m['mean_' + key]:.4f} ± {m['std_' + key]:.4f} / "
                                              f"{m['ensemble_' + key]:.4f}")
              for key, name in (("nll", "NLL"), ("brier", "Brier"), ("ece", f"ECE, {m.get('ece_bins')} bins"),
                                ("aurc", "AURC")) if f"mean_{key}" in m),
            *((("disagreement (pairs)", f"{m['disagreement']:.2%}"),
               ("mutual information", f"{m['mutual_information']:.4f} nats")) if "disagreement" in m else ()),
            ("entropy estimate", f"-inf ({m['coinciding_networks']} networks coincide with another)"
             if m.get("coinciding_networks") else
             "—" if m["entropy_estimate"] is None else
             f"{m['entropy_estimate']:.1f} (Kozachenko–Leonenko, d = {m['entropy_d']}: comparable at one d)"),
            *(((f"{e['count']} independent ensembles of {e['size']}",
                f"majority {e['majority_mean']:.2%}{_spread(e['majority_std'])}, mean prob. "
                f"{e['mean_prob_mean']:.2%}{_spread(e['mean_prob_std'])}"),)
              if (e := m.get("independent_ensembles")) else ())]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: digits demo)")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="override: key=value")] = [],  # noqa: B006
    out: Annotated[Path | None, typer.Option(help="run folder to create")] = None,
    resume: Annotated[Path | None, typer.Option(help="run folder to continue")] = None,
    data_dir: Annotated[str | None, typer.Option(help="folder holding the data set (data.data_dir)")] = None,
    import_path: ImportPaths = [],  # noqa: B006
    quiet: Quiet = False,
    trust_code: Annotated[bool, typer.Option(help="with --resume: " + TRUST_HELP)] = False,
) -> None:
    """Train a hypernetwork into a run folder (or continue one with --resume). The folder holds
    config.yaml (every setting, resolved), command.txt (the commands run on it), metrics.jsonl (a
    row per step, validation every train.val_every) and checkpoint.safetensors (every
    train.checkpoint_every steps and at the end; best.safetensors too with train.keep_best).
    `hyperzoo config` lists every --set key with its help."""
    from hyperzoo.targets.registry import add_import_paths
    from hyperzoo.train import TrainingDiverged
    from hyperzoo.train import train as run_training

    try:
        _check_data_dir(data_dir)
        if (out is None) == (resume is None):
            raise ConfigError("give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR")
        if resume is not None and (config is not None or set_ or data_dir):
            raise ConfigError("--resume continues the run's own config.yaml; drop CONFIG/--set/--data-dir")
        add_import_paths(list(import_path))
        cfg = load_config(config, set_) if resume is None else None
        if cfg is not None and data_dir:
            cfg.data.data_dir = str(data_dir)  # a path as given, never parsed as YAML ('#', digits)
        with _sigterm_as_interrupt():
            last = run_training(cfg, out or resume, resume=resume is not None,  # type: ignore[arg-type]
                                argv=["hyperzoo", *sys.argv[1:]], progress=not quiet,
                                trust_code=trust_code)
    except OSError as e:  # a full disk mid-run: the folder keeps its last checkpoint
        run_dir = Path(out or resume)  # type: ignore[arg-type]
        full = e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)
        _fail(OSError(f"{e}; {_where_it_stands(run_dir, import_path)}")
              if full and (run_dir / "config.yaml").is_file()
              else e)
    except (*USER_ERRORS, TrainingDiverged) as e:
        _fail(e)
    except KeyboardInterrupt as e:
        _interrupted(out or resume, import_path, terminated=isinstance(e, Terminated))  # type: ignore[arg-type]
    if process_rank() != 0:  # rank 0 says how the run ended (another's last row has no validation)
        return
    from hyperzoo.runs import training_time

    timing = training_time(out or resume)  # type: ignore[arg-type]
    took = "" if "train_seconds" not in timing else (
        f"; trained {_duration(timing['train_seconds'])}"
        + (f" since step {timing['train_seconds_from_step']}" if timing["train_seconds_from_step"] else ""))
    if "val_mean_accuracy" in last:
        typer.echo(f"step {last['step']}: validation accuracy {last['val_mean_accuracy']:.2%} "
                   f"(ensemble {last['val_ensemble_accuracy']:.2%}){took}; run folder {out or resume}")
    elif "val_mean_rmse" in last:
        typer.echo(f"step {last['step']}: validation RMSE {last['val_mean_rmse']:.4g} "
                   f"(ensemble mean {last['val_ensemble_rmse']:.4g}){took}; run folder {out or resume}")
    else:  # no validation (a method without data): success said all the same
        typer.echo(f"step {last.get('step', '?')}: done{took}; run folder {out or resume}")


@app.command("config")
def show_config(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: digits demo)")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="override: key=value")] = [],  # noqa: B006
) -> None:
    """Print the fully resolved config (every default), each key with one line of help."""
    from hyperzoo.config_help import annotated_yaml

    try:
        cfg = load_config(config, set_)
        typer.echo(annotated_yaml(cfg), nl=False)
    except USER_ERRORS as e:
        _fail(e)
    refusal = _training_refusal(cfg)
    if refusal:  # printed as it is, but train would refuse it: say so now, not after a copy-paste
        typer.echo(f"note: train refuses this config as it stands: {refusal}", err=True)


def _training_refusal(cfg) -> str | None:
    """What `train` would refuse in ``cfg`` before its first step that the config's own checks
    pass (a method's needs of the batch: an ensemble's noise_batch is its size), from the
    settings alone: no target is built, no data read, no code imported; else None."""
    from hyperzoo.config import from_dict
    from hyperzoo.methods import METHODS, resolve_noise_batch

    config_cls, method_cls = METHODS[cfg.method_name]  # known: annotated_yaml resolved it
    try:
        cfg.train.check_for_training()
        method_cls.check_settings(from_dict(config_cls, cfg.method, prefix="method."),
                                  resolve_noise_batch(cfg), cfg.train.steps)
    except UserError as e:
        return str(e)
    return None


@app.command()
def sample(
    run_dir: Path,
    n: Annotated[int, typer.Option("-n", help="number of networks")] = 10,
    out: Annotated[Path, typer.Option(help="folder for network_XXXX.safetensors")] = Path("networks"),
    seed: Seed = 0,
    quiet: Quiet = False,
    threads: Threads = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """Export N sampled networks as state dicts that load into the plain target module
    (an earlier export in --out is replaced; a folder holding other files is refused)."""
    from hyperzoo.workflows import export_networks

    try:
        _use_threads(threads)
        paths = export_networks(run_dir, n, out, seed, trust_code=_trusted(trust_code, import_path),
                                progress=not quiet)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"wrote {len(paths)} network{'s' if len(paths) != 1 else ''} to {out}")


@app.command()
def evaluate(
    run_dir: Path,
    networks: Annotated[int, typer.Option(help="networks to sample")] = 100,
    data_dir: Annotated[str | None, typer.Option(help="folder holding the data set")] = None,
    split: Split = "test",
    seed: Seed = 0,
    quiet: Quiet = False,
    threads: Threads = None,
    out: Annotated[Path | None, typer.Option(help="metrics file (default: RUN_DIR/metrics-SPLIT.json)")
                   ] = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
    ensembles: Annotated[int, typer.Option(help="also K independent ensembles of --networks fresh "
                                                "networks each (seed 001: 20 of 200)")] = 1,
) -> None:
    """Accuracy and uncertainty of single sampled networks and of their ensemble; writes
    RUN_DIR/metrics-SPLIT.json and the ensemble's reliability diagram reliability-SPLIT.png beside
    it (best effort: a read-only run folder gets a warning, the table is printed anyway)."""
    from hyperzoo.workflows import evaluate_run

    try:
        _check_data_dir(data_dir)
        _use_threads(threads)
        metrics = evaluate_run(run_dir, networks, data_dir, split, seed, progress=not quiet,
                               out=out, trust_code=_trusted(trust_code, import_path), ensembles=ensembles)
    except USER_ERRORS as e:
        _fail(e)
    if out is None or out.resolve().parent == run_dir.resolve():  # it wrote into the run folder
        _record(run_dir)
    typer.echo(_table(metrics))


@app.command("tune-noise")
def tune_noise(
    run_dir: Path,
    sigmas: Annotated[str | None, typer.Option(help="comma-separated grid of σ (relative to each "
                                                    "tensor's RMS); default 0,0.005,…,0.5")] = None,
    networks: Annotated[int, typer.Option(help="sampled networks per σ")] = 10,
    split: Annotated[str | None, typer.Option(
        help="split to tune on: val, the held-out validation examples (the only one)")] = None,
    data_dir: Annotated[str | None, typer.Option(help="folder holding the data set")] = None,
    limit: Annotated[int | None, typer.Option(help="examples (default: all)")] = None,
    seed: Seed = 0,
    threads: Threads = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """Pick the noise scale σ of a gaussian_noise run by the validation NLL of its ensemble and
    write it into the run (RUN_DIR/noise_scale.json records the grid)."""
    from hyperzoo.noise_tuning import DEFAULT_SIGMAS, parse_sigmas, tune_noise_scale

    try:
        _check_data_dir(data_dir)
        _use_threads(threads)
        grid = DEFAULT_SIGMAS if sigmas is None else parse_sigmas(sigmas)
        r = tune_noise_scale(run_dir, grid, networks, split, data_dir, limit, seed,
                             trust_code=_trusted(trust_code, import_path))
    except USER_ERRORS as e:
        _fail(e)
    _record(run_dir)
    for row in r["grid"]:
        mark = "  <- chosen" if row["sigma"] == r["sigma"] else ""
        typer.echo(f"σ {row['sigma']:<8g} ensemble NLL {row['ensemble_nll']:.4f}, accuracy "
                   f"{row['ensemble_accuracy']:.2%} (single {row['mean_accuracy']:.2%}){mark}")
    typer.echo(f"wrote σ = {r['sigma']:g} into {run_dir}'s checkpoints and config.yaml (chosen by "
               f"{r['networks']} networks on {r['dataset']} / {r['split']})")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/demo"),
    networks: Annotated[int, typer.Option(help="sampled networks evaluated")] = 100,
    threads: TrainThreads = None,
    quiet: Quiet = False,
) -> None:
    """Train → sample → evaluate on the embedded 8×8 digits, in under a minute on 2 CPU cores."""
    from hyperzoo.train import train_or_continue
    from hyperzoo.workflows import evaluate_run, export_networks

    try:
        if networks < 1:  # checked here, not after the training and export it would follow
            raise ConfigError(f"--networks must be at least 1, got {networks}")
        _use_threads(threads)  # the evaluation's too, after training (or of a run trained before)
        argv = ["hyperzoo", *sys.argv[1:]]
        config = load_config()
        config.train.threads = threads
        state = train_or_continue(config, out, "hyperzoo demo", argv=argv, progress=not quiet)
        if state == "finished":
            typer.echo(f"{out} is already trained; evaluating it")
        paths = export_networks(out, 5, out / "networks")
        metrics = evaluate_run(out, networks, progress=not quiet)
    except USER_ERRORS as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted(out, [], again=True)
    typer.echo(f"exported {len(paths)} networks to {out / 'networks'}\n{_table(metrics)}")


@app.command()
def toy(
    out: Annotated[Path, typer.Option(help="run folder (new, or this command's interrupted run, which "
                                            "it finishes); toy.png and toy.json are written there too")
                   ] = Path("runs/toy"),
    steps: int = 4000,
    seed: TrainSeed = 0,
    threads: TrainThreads = None,
    quiet: Quiet = False,
) -> None:
    """Seed 000's toy problem: 1-D noise onto a 2-D Gaussian mixture, trained like any run
    (under a minute)."""
    from hyperzoo.toy import run_toy
    from hyperzoo.train import TrainingDiverged

    if steps < 1:
        _fail(ConfigError(f"--steps must be at least 1, got {steps}"))
    try:
        _use_threads(threads)  # the figures' too, of a run trained before
        s = run_toy(out, steps, seed, progress=not quiet, argv=["hyperzoo", *sys.argv[1:]], threads=threads)
    except (*USER_ERRORS, TrainingDiverged) as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted(out, [], again=True)
    peaks = ", ".join(f"{d:.2f}" for d in s["distance_to_nearest_sample_per_peak"])
    typer.echo(f"wrote {out / 'toy.png'}; distance from each peak to the path: {peaks}; "
               f"rank correlation density vs sample spacing: {s['rank_corr_density_vs_spacing']:.2f}")


@app.command("toy-regression")
def toy_regression(
    out: Annotated[Path, typer.Option(help="run folder (new, or this command's interrupted run, which "
                                            "it finishes); its report (report.md, regression.png) is "
                                            "written there too")] = Path("runs/toy-regression"),
    steps: int = 1500,
    seed: Annotated[int, typer.Option(help="training seed (train.seed); the report's noise: seed + 2")] = 0,
    networks: Annotated[int, typer.Option(help="sampled networks in the report")] = 1000,
    threads: TrainThreads = None,
    quiet: Quiet = False,
) -> None:
    """Seed 002's 1-D regression: HyperGAN on 20 noisy points of y = x³, trained like any run
    (then `hyperzoo evaluate/report` work on the folder), and its report (about 20 s)."""
    from hyperzoo.toy_regression import run_toy_regression
    from hyperzoo.train import TrainingDiverged

    if steps < 1:
        _fail(ConfigError(f"--steps must be at least 1, got {steps}"))
    try:
        _use_threads(threads)  # the report's too, of a run trained before
        s = run_toy_regression(out, steps, seed, networks, progress=not quiet,
                               argv=["hyperzoo", *sys.argv[1:]], threads=threads)
    except (*USER_ERRORS, TrainingDiverged) as e:
        _fail(e)
    except KeyboardInterrupt:
        _interrupted(out, [], again=True)
    typer.echo(f"wrote {out / 'regression.png'}; predictive std inside the data range "
               f"{s['mean_std_inside_data_range']:.2f}, outside {s['mean_std_outside_data_range']:.2f}; "
               f"RMSE of the mean to x³ inside {s['rmse_to_true_function_inside']:.2f}")


@app.command()
def report(
    run_dir: Path,
    out: Annotated[Path, typer.Option(help="folder for report.md, report.json, PNGs")],
    compare: Annotated[list[Path], typer.Option(help="more runs on the same axes")] = [],  # noqa: B006
    data_dir: Annotated[str | None, typer.Option(help="folder holding the data set")] = None,
    networks: Annotated[int, typer.Option(help="sampled networks per run")] = 200,
    limit: Annotated[int | None, typer.Option(help="test examples (default: all)")] = None,
    adv_limit: Annotated[int, typer.Option(help="test examples attacked")] = 200,
    path_limit: Annotated[int | None, typer.Option(
        help="test examples scored along seed 001's paths (default: every test example)")] = None,
    path_pairs: Annotated[int, typer.Option(help="pairs of endpoints (z₁, z₂) for the paths")] = 10,
    transfer_networks: Annotated[int, typer.Option(
        help="networks that score one network's adversarial examples (seed 002 Fig. 4)")] = 500,
    ambiguous: Annotated[int, typer.Option(help="ambiguous test images shown (seed 002 Fig. 7)")] = 12,
    ood: Annotated[str | None, typer.Option(
        help="outlier set for OOD detection: a name (notmnist) or a path (IDX, CIFAR-format, .npz)")] = None,
    ood_networks: Annotated[int, typer.Option(
        help="fresh networks per run that score --ood (a fixed set: its own)")] = 100,
    detection_sizes: Annotated[str, typer.Option(help="ensemble sizes for adversarial detection")] = (
        "5,10,100,1000"),
    seed: Annotated[int, typer.Option(help="seed of the sampled networks, attacks and path pairs")] = 0,
    quiet: Quiet = False,
    threads: Threads = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """The papers' analyses: accuracy histograms, ensembles, diversity probes, adversarial examples
    and their detection, out-of-distribution detection."""
    from hyperzoo.report import make_report

    try:
        _check_data_dir(data_dir)
        sizes = [int(v) for v in detection_sizes.split(",") if v.strip()]
    except ValueError:
        _fail(ConfigError(f"--detection-sizes {detection_sizes!r} must be comma-separated integers"))
    if any(v < 1 for v in sizes):
        _fail(ConfigError(f"--detection-sizes {detection_sizes!r} must be positive"))
    try:
        _use_threads(threads)
        rep = make_report(run_dir, out, compare, data_dir, networks, limit, adv_limit,
                          path_limit=path_limit, path_pairs=path_pairs, transfer_networks=transfer_networks,
                          ambiguous=ambiguous, seed=seed, ood=ood, ood_networks=ood_networks,
                          detection_sizes=sizes, progress=not quiet,
                          trust_code=_trusted(trust_code, import_path))
    except USER_ERRORS as e:
        _fail(e)
    _record(out)
    typer.echo(f"wrote {out / 'report.md'} and {len(rep['figures'])} figures ({rep['seconds']} s)")


@app.command()
def ood(
    run_dir: Path,
    outliers: Annotated[list[str], typer.Option(
        help="out-of-distribution set: a name (notmnist) or a path to an IDX folder, CIFAR-format "
             "folder or .npz; repeat for several")],
    networks: Annotated[int, typer.Option(help="sampled networks that score each set")] = 100,
    data_dir: Annotated[str | None, typer.Option(
        help="folder holding the inliers (the run's data set)")] = None,
    outlier_dir: Annotated[str | None, typer.Option(
        help="folder holding named outlier sets (default: the inliers' folder)")] = None,
    limit: Annotated[int | None, typer.Option(help="examples per set (default: all)")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for ood.json and ood_cdf.png")] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
    threads: Threads = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """Out-of-distribution detection by the predictive entropy and the mutual information of
    sampled networks (outliers are the positive class)."""
    from hyperzoo.workflows import ood_run

    try:
        _check_data_dir(data_dir)
        _use_threads(threads)
        r = ood_run(run_dir, list(outliers), networks, data_dir, limit, seed, out, progress=not quiet,
                    outlier_dir=outlier_dir, trust_code=_trusted(trust_code, import_path))
    except USER_ERRORS as e:
        _fail(e)
    if out is not None:
        _record(out)
    for name, m in r["sets"].items():
        typer.echo(f"{r['inliers']} vs {name}, {r['n_networks']} networks, positive class: "
                   f"{m['positive_class']}")
        for score, sm in m["scores"].items():
            # One network's mutual information is 0 for every input: no ranking at all.
            none = " (0 for every input with one network)" if (
                score == "mutual_information" and r["n_networks"] == 1) else ""
            se = "" if sm["auroc_se"] is None else f" ± {sm['auroc_se']:.4f} (standard error)"
            typer.echo(f"  by {score.replace('_', ' ')}: AUROC {sm['auroc']:.4f}{se}, AUPR {sm['aupr']:.4f}, "
                       f"FPR at 95% TPR {sm['fpr_at_95_tpr']:.2%}{none}")  # a rate, as report prints it
    if out is None:
        _nothing_written("--out DIR writes ood.json and ood_cdf.png")


@app.command()
def polyak(
    run_dir: Path,
    k: Annotated[int, typer.Option("-k", help="sampled networks averaged into one")] = 10,
    coordinates: Annotated[str, typer.Option(help="average gauge-fixed (gauge) or raw weights")] = "gauge",
    split: Split = "test",
    limit: Annotated[int | None, typer.Option(help="examples scored (default: all)")] = None,
    data_dir: Annotated[str | None, typer.Option(help="folder holding the data set")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON file for the numbers")] = None,
    seed: Seed = 0,
    threads: Threads = None,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """Polyak distillation (seed 003 §4.4): K sampled networks averaged into one network (batch-norm
    statistics recomputed); accuracy of the samples, their ensemble and the averaged network."""
    from hyperzoo.weights import atomic_write_json
    from hyperzoo.workflows import POLYAK_KEYS, check_json_out, polyak_run

    try:
        _check_data_dir(data_dir)
        _use_threads(threads)
        if out is not None:
            check_json_out(out, POLYAK_KEYS, run_dir)
        r = polyak_run(run_dir, k, data_dir, split, limit, seed, coordinates,
                       trust_code=_trusted(trust_code, import_path))
        if out is not None:
            atomic_write_json(out, r)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"{r['dataset']} / {split} ({r['n_examples']} examples), {r['networks']} networks: "
               f"mean single {r['mean_single_accuracy']:.2%}, ensemble {r['ensemble_accuracy']:.2%}; "
               f"averaged in {r['coordinates']} coordinates: {r['polyak_accuracy']:.2%}")
    if out is None:
        _nothing_written("--out FILE writes these numbers as JSON")


@app.command()
def verify(
    run_dir: Path,
    trust_code: Annotated[bool, typer.Option(help=TRUST_HELP)] = False,
    import_path: ImportPaths = [],  # noqa: B006
) -> None:
    """Check a run folder: config, checkpoint metadata, content hash, finite values, and that
    the checkpoints fit the model the config builds. One line per problem; exit 1 if any."""
    from hyperzoo.verify import verify_run

    try:
        problems, notes = verify_run(run_dir, trust_code=_trusted(trust_code, import_path))
    except USER_ERRORS as e:
        _fail(e)
    for note in notes:
        typer.echo(note)
    for problem in problems:
        typer.echo(f"problem: {' '.join(problem.split())}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{run_dir}: ok")
