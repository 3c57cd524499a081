"""`hyperzoo config`: the fully resolved configuration, every default included, each key with
one line of help."""

from __future__ import annotations

from typing import Any

import yaml

from hyperzoo.config import Config

HELP: dict[str, str] = {
    "run_id": "set by train for each new run (random); its checkpoints carry it, so one from "
              "another run is refused",
    "target.name": "built-in target (digits_net, deutsch_mnist, ...) or import path package.module:Class",
    "target.kwargs": "keyword arguments of the target's constructor",
    "target.backend": "auto (vmap for small nets and on GPU, else threads/loop), threads, loop or vmap",
    "target.input_shape": "(C, H, W) of one input; null reads it from the data set",
    "data.dataset": "built-in name, a path to an IDX folder, a CIFAR-format folder or an .npz; none: no data",
    "data.data_dir": "folder holding the data set (or its parent); relative paths are looked up here too",
    "data.val_split": "split validated on during training (val, or test)",
    "data.val_limit": "validate on the first N examples only (null: all)",
    "data.val_fraction": "share of training examples held out for validation (null: built-in splits, "
                         "1/10 of your own; 0: none, with data.val_split test; not for digits and cubic, "
                         "whose splits are fixed)",
    "target.module_class": "set by train: the target module's class; a module given to reopen the run must "
                            "be one",
    "data.sha256": "set by train: the SHA-256 of a data set of your own (a file, an IDX or CIFAR "
                   "folder's data files, or the arrays fit kept in memory only); other data is refused",
    "data.val_pick": "which examples of your own data set are held out: random (a fixed subset, the same "
                     "for every run) or last (the last ones: runs from before 2026-12-06)",
    "data.augment": "training augmentation: none, crop (pad, then a random crop), or crop_flip "
                    "(then mirror half the images)",
    "data.pad": "pixels of zero padding per side for crop and crop_flip",
    "data.bn_examples": "training images for the batch-norm statistics of sampled networks (null: all)",
    "data.bn_batch": "images per batch of that statistics pass",
    "train.steps": "optimizer steps",
    "train.noise_batch": ("networks sampled per step (N); unset: the method's own (1 for one network, "
                          "an ensemble's size), else 32"),
    "train.images_per_noise": "images per sampled network per step (M)",
    "train.lr": "learning rate (peak)",
    "train.lr_schedule": "cosine, constant, or step (× lr_decay every lr_decay_every steps)",
    "train.lr_warmup": "linear warm-up steps",
    "train.lr_min_factor": "cosine schedule's floor as a share of lr, reached after the last step (in a "
                           "short run the last step's rate is a little above it)",
    "train.lr_decay_every": "step schedule: steps between decays",
    "train.lr_decay": "step schedule: factor per decay, in (0, 1]",
    "train.seed": "seed of initialisation, noise and data order",
    "train.val_every": "steps between validations",
    "train.val_networks": "networks sampled for each validation",
    "train.checkpoint_every": "steps between checkpoints",
    "train.threads": "torch threads (null: torch's default; 1 when two jobs share few cores)",
    "train.device": "auto (CUDA when available, else CPU), cpu, cuda or cuda:N",
    "train.log_every": "steps between reads of the logged scalars from the device (one row per step)",
    "train.precision": "fp32, or bf16 (the target networks under autocast in training; the rest "
                       "stays fp32)",
    "train.compile": "torch.compile the training loss",
    "train.full_batch": "every network sees the whole training set at every step (tiny sets only)",
    "train.keep_best": "also keep the best-validation model (best.safetensors), used by evaluate",
    "train.optimizer": "optimizer of every parameter group: adam, or sgd (heavy-ball momentum)",
    "train.momentum": "SGD momentum (null: 0.9 with sgd; adam takes none)",
    "train.fused": "Adam's fused kernel (the same update up to rounding, faster); false: per-tensor Adam",
}
METHOD_HELP: dict[str, dict[str, str]] = {
    "deutsch": {
        "name": "method",  # filled in below: every method's name
        "z_dim": "noise dimension (also the entropy estimate's dimension)",
        "noise": "noise distribution: uniform or normal",
        "code_size": "size of each filter's code from the extractor",
        "extractor_hidden": "hidden sizes of the extractor (noise → codes)",
        "generator_hidden": "hidden sizes of the weight generators (one list, or one per layer; [] a rule)",
        "leaky_slope": "negative slope of the leaky ReLUs",
        "equalized_output": "scale generated weights by √(2/fan_in) (He scale at initialisation)",
        "lam": ("λ: weight of the accuracy term against the diversity term, or auto: set at step 0 "
                "from the gradients at initialisation (README)"),
        "lam_start": "λ at step 0, ramped geometrically to lam (null: no ramp)",
        "lam_warmup_steps": "steps of the λ ramp",
        "diversity": "diversity term: weights, weights_relaxed, outputs or none",
        "metric": "distance of the entropy estimate: euclidean or l1",
        "gamma": "weight of the gauge penalty (diversity weights_relaxed)",
        "probe_size": "inputs of the output-space diversity term (diversity outputs)",
        "ensemble_loss": "ω: share of the ensemble's cross-entropy in the accuracy term",
        "whole_layers": "the last N target layers are each generated as one filter",
        "batch_norm": "batch norm in the hidden layers of the extractor and generators",
        "skip": "skip connections around equal-width hidden layers (seed 003, ResNet-32)",
        "code_share": ("null (the paper's bias-free generators) or c in (0, 1]: a learned bias, one "
                       "shared filter per layer, plus a code part holding c of the spread"),
    },
    "hypergan": {
        "name": "method",  # filled in below: every method's name
        "z_dim": "noise dimension",
        "code_size": "size of each layer's code from the mixer",
        "mixer_hidden": "hidden sizes of the mixer (noise → codes)",
        "generator_hidden": "hidden sizes of each layer's generator",
        "discriminator_hidden": "hidden sizes of the code discriminator",
        "beta": "β: weight of the adversarial term on the codes",
        "pretrain_steps": "steps training the mixer alone to match the prior's moments",
        "pretrain_batch": "noise vectors per pre-training step",
        "task": "classification or regression (the data set must agree; MSE relative to var(y))",
        "equalized_output": "scale generated weights to He scale at initialisation",
        "code_share": "share of the weights' initial spread that depends on the code",
        "target_variance": ("regression: var(y) of the training set (set at the start and "
                            "recorded); a step's var(y) is floored at 1% of it"),
    },
    "static": {
        "name": "method",  # filled in below: every method's name
        "embedding_dim": "N_z: size of each layer embedding",
        "hidden_dim": "d: the generator's embedding projection dimension",
        "tile": "kernel tile: tile in × tile out channels per embedding",
        "generated": "generated layers by name (quoted: '3') or index (null: the seed's choice; []: none)",
        "equalized": "per-layer gains √(2/fan_in) on unit-scale parameters",
    },
    "toy_mixture": {
        "name": "method: seed 000's toy problem (target point, data.dataset none)",
        "centers": "centres [x, y] of the Gaussian mixture's components",
        "weights": "mixture weight of each component",
        "sigma": "standard deviation of every component",
        "hidden": "hidden widths of the generator MLP 1 → … → 2",
        "lam": "λ: weight of the mixture's negative log-density against the entropy",
        "lam_start": "λ at step 0, ramped geometrically to lam",
        "lam_warmup_steps": "steps of the λ ramp",
        "l2": "penalty on the points' squared norm",
    },
    "ensemble": {
        "name": "method",  # filled in below: every method's name
        "size": "independently trained networks",
        "weight_decay": "ℓ2 penalty of the L2 ensemble",
        "adversarial_eps": "ε of adversarial training in input units (0: off; deep ensembles: 0.01)",
    },
    "mc_dropout": {
        "name": "method",  # filled in below: every method's name
        "p": "probability of dropping each hidden unit (one mask per sampled network)",
        "weight_decay": "ℓ2 penalty",
    },
    "snapshots": {
        "name": "method",
        "size": "snapshots kept: the latest ones (the networks sampled)",
        "burn_in": "updates before the first snapshot",
        "every": "updates between snapshots",
        "weight_decay": "ℓ2 penalty weight_decay·‖w‖² (= SGD weight decay 2·weight_decay)",
    },
    "gaussian_noise": {
        "name": "method",
        "sigma": "σ: noise std relative to each tensor's RMS (hyperzoo tune-noise sets it by val NLL)",
        "weight_decay": "ℓ2 penalty weight_decay·‖w‖² (= SGD weight decay 2·weight_decay)",
    },
    "mnf": {
        "name": "method",
        "flows_q": "coupling layers of the flow q(z) of the multiplicative noise",
        "flows_r": "coupling layers of the auxiliary inverse flow r(z | W)",
        "flow_hidden": "hidden units of each coupling conditioner",
        "prior_var": "variance of the Gaussian prior on the weights",
        "init_log_var": "log σ² of every weight at the start",
        "z_init_var": "variance of the noise z₀ at the start (around mean 1)",
        "dataset_size": "training-set size N of the bound NLL + KL / N (null: the training split's)",
        "kl_weight": "multiplies the KL term (1: the variational bound)",
    },
    "bhn": {
        "name": "method",
        "flows": "coupling layers of the flow over the weight-norm scales",
        "flow_hidden": "hidden units of each coupling conditioner",
        "prior_var": "variance of the Gaussian prior on the scales",
        "init_std": "initial spread of each scale around its unit's initial norm",
        "dataset_size": "training-set size N of the bound NLL + KL / N (null: the training split's)",
        "kl_weight": "multiplies the KL term (1: the variational bound)",
    },
}
for _h in METHOD_HELP.values():  # the toy problem's keeps its own (it takes its own target and data)
    if _h["name"] == "method":
        _h["name"] = "method: " + ", ".join(METHOD_HELP)


def resolved(config: Config) -> dict[str, Any]:
    """``config`` as a dict with the method's defaults filled in (validated as training does)."""
    from hyperzoo.methods import resolve_method_config, resolve_noise_batch

    data = {**config.to_dict(), "method": resolve_method_config(config.method)}
    data["train"]["noise_batch"] = resolve_noise_batch(config)
    return data


def annotated_yaml(config: Config) -> str:
    """YAML of ``resolved(config)``, one key per line, each followed by its help as a comment."""
    data = resolved(config)
    method_help = METHOD_HELP[data["method"]["name"]]  # every registered method's (a test holds them)
    lines = []
    for section, values in data.items():
        if not isinstance(values, dict):  # a top-level value (run_id)
            lines.append(f"{yaml.safe_dump({section: values}, default_flow_style=True).strip()[1:-1]}"
                         f"  # {HELP[section]}")
            continue
        lines.append(f"{section}:")
        rows = []
        for key, value in values.items():
            text = yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()[1:-1]
            help_ = method_help.get(key) if section == "method" else HELP.get(f"{section}.{key}")
            rows.append((f"  {text}", help_))
        width = max(len(r) for r, _ in rows)
        lines += [f"{r:<{width}}  # {h}" if h else r for r, h in rows]
    return "\n".join(lines) + "\n"
