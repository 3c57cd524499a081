"""`hyperzoo config`: the fully resolved configuration, every key with a one-line help."""

from __future__ import annotations

from typing import Any

import yaml

from hyperzoo.config import Config
from hyperzoo.methods import resolve_method_config

HELP: dict[str, str] = {
    "target": "the network that is generated",
    "target.name": "built-in target (digits_net, deutsch_mnist, ...) or import path package.module:Class",
    "target.kwargs": "keyword arguments of the target class",
    "target.backend": "batched evaluation: auto (loop on CPU), vmap or loop",
    "data": "the data set",
    "data.dataset": "digits (embedded), mnist, notmnist, cifar10, cifar5, mnist-5000, ...",
    "data.data_dir": "folder holding the data set's files (not needed for digits)",
    "data.val_split": "split used for validation during training",
    "data.val_limit": "validate on the first N examples only (null: all)",
    "data.augment": "training augmentation: none or crop",
    "data.pad": "zero padding per side before a random crop (with augment: crop)",
    "train": "the training loop",
    "train.steps": "optimizer steps in total (>= 1)",
    "train.noise_batch": "networks sampled per step (>= 2 where the entropy term needs two)",
    "train.images_per_noise": "training images per sampled network per step",
    "train.lr": "base learning rate of Adam (> 0)",
    "train.lr_schedule": "constant, cosine or step",
    "train.lr_warmup": "steps of linear learning-rate warm-up",
    "train.lr_min_factor": "cosine: final learning rate as a fraction of lr",
    "train.lr_decay_every": "step schedule: multiply by lr_decay every this many steps",
    "train.lr_decay": "step schedule: the factor",
    "train.seed": "seed of initialisation, noise and data order",
    "train.val_every": "validate every this many steps (>= 1)",
    "train.val_networks": "networks sampled for validation",
    "train.checkpoint_every": "write checkpoint.safetensors every this many steps (>= 1)",
    "train.threads": "torch threads (null: torch's default); resume with the same count to be exact",
    "train.keep_best": "also keep the model of the best validation accuracy (best.safetensors)",
    "method": "the method that generates networks; its keys depend on method.name",
    "method.name": "deutsch, hypergan, static, ensemble or mc_dropout",
    # Deutsch
    "method.deutsch.z_dim": "dimension of the noise z (and d of the entropy estimate)",
    "method.deutsch.noise": "distribution of z: uniform on [-1, 1] or normal",
    "method.deutsch.code_size": "size of the code the extractor gives each filter",
    "method.deutsch.extractor_hidden": "hidden sizes of the extractor MLP",
    "method.deutsch.generator_hidden": "generators' hidden sizes (per layer or one list; []: a rule)",
    "method.deutsch.leaky_slope": "negative slope of the leaky ReLUs",
    "method.deutsch.equalized_output": "generators' outputs at He scale of the generated filter",
    "method.deutsch.lam": "λ, weight of the cross-entropy against the entropy",
    "method.deutsch.lam_start": "λ at step 0 of a geometric warm-up (null: no warm-up)",
    "method.deutsch.lam_warmup_steps": "steps of the λ warm-up",
    "method.deutsch.diversity": "weights (gauge-fixed), weights_relaxed (γ·G penalty), outputs or none",
    "method.deutsch.metric": "distance of the entropy estimate: euclidean or l1",
    "method.deutsch.gamma": "γ of the relaxed gauge penalty (diversity: weights_relaxed)",
    "method.deutsch.probe_size": "probe examples of the output-space entropy (diversity: outputs)",
    "method.deutsch.ensemble_loss": "ω in [0, 1]: share of the ensemble's cross-entropy in the task loss",
    # HyperGAN
    "method.hypergan.z_dim": "dimension of the noise z ~ N(0, I)",
    "method.hypergan.code_size": "size of the mixer's code per target layer",
    "method.hypergan.mixer_hidden": "hidden sizes of the mixer",
    "method.hypergan.generator_hidden": "hidden sizes of each layer's generator",
    "method.hypergan.discriminator_hidden": "hidden sizes of the latent discriminator",
    "method.hypergan.beta": "β, weight of the adversarial term (>= 0)",
    "method.hypergan.pretrain_steps": "steps of mixer pre-training to the prior's moments",
    "method.hypergan.pretrain_batch": "noise vectors per pre-training step",
    "method.hypergan.task": "classification (cross-entropy) or regression (MSE)",
    "method.hypergan.equalized_output": "generators' outputs at He scale of the generated layer",
    "method.hypergan.code_share": "share of the initial weight spread that depends on the code, (0, 1]",
    # Static hypernetwork
    "method.static.embedding_dim": "N_z, size of a layer embedding",
    "method.static.hidden_dim": "d, the embedding projection dimension",
    "method.static.tile": "the basic kernel is tile in × tile out channels",
    "method.static.generated": "generated layers by name or index (null: the seed's choice; []: none)",
    "method.static.equalized": "per-layer He gains on unit-scale parameters",
    # Baselines
    "method.ensemble.size": "independently trained networks (train.noise_batch must equal it)",
    "method.ensemble.weight_decay": "L2 penalty on the weights (an 'L2 ensemble')",
    "method.mc_dropout.p": "probability of dropping a hidden unit, [0, 1)",
    "method.mc_dropout.weight_decay": "L2 penalty on the weights",
}


def help_for(key: str, method: str) -> str | None:
    """The help line of dotted ``key`` (method keys are looked up under the method's name)."""
    parts = key.split(".")
    if parts[0] == "method" and len(parts) == 2 and parts[1] != "name":
        return HELP.get(f"method.{method}.{parts[1]}")
    return HELP.get(key)


def resolved(config: Config) -> dict[str, Any]:
    """The config as a dict with every default, the method's own included."""
    data = config.to_dict()
    data["method"] = resolve_method_config(config.method)
    return data


def describe(config: Config) -> str:
    """YAML of the resolved config, each key followed by ``# help``."""
    data = resolved(config)
    method = data["method"]["name"]
    lines = []
    for section, values in data.items():
        lines.append(f"{section}:  # {help_for(section, method)}")
        for key, value in values.items():
            text = yaml.safe_dump({key: value}, default_flow_style=True, sort_keys=False, width=10_000)
            text = text.strip()[1:-1]  # "{key: value}" -> "key: value"
            lines.append(f"  {text}  # {help_for(f'{section}.{key}', method) or ''}".rstrip(" #"))
    return "\n".join(lines) + "\n"
