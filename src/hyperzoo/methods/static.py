"""Static hypernetwork of Ha et al. (seed 004 §3): learned layer embeddings → conv kernels.

For every *tile* t of a generated conv layer (a basic kernel of ``tile`` in × ``tile`` out
channels × f × f) there is a learned embedding z_t ∈ R^{N_z}. One two-layer linear generator,
shared by all tiles of all generated layers, maps it to the tile's kernel:

    a_i = W_i z_t + B_i                   i = 1..N_in (= tile), a_i ∈ R^d
    K_i = ⟨W_out, a_i⟩ + B_out            K_i: the (out, f, f) slice of input channel i
    kernel_t = (K_1 … K_N_in)             → PyTorch layout (out, in, f, f)

A kernel larger than a tile is assembled from several tiles (a 32×32 kernel from 4
embeddings, row-major over (out tile, in tile)). All other parameters of the target (the
first conv, every bias, the dense layers) are ordinary trainable parameters of the method,
initialised as the target module initialises itself. There is no noise: the method is one
network, and ``sample(n)`` returns n views of it.

Parameter count, as the seed's Tables 2–7 count it: W_i (N_in·d·N_z) + B_i (N_in·d) +
W_out (d·N_out·f²) + B_out (N_out·f²) + N_z per tile. E.g. MNIST Hyper5_5: 400 + 80 + 3,920 +
784 + 5 = 5,189. The generated layers' biases are not in those counts.

Initialisation (equalized, as the Deutsch generators' output layers; see the README): every
stored parameter is at unit scale (z ~ N(0, 1), W_i std 1/√N_z, W_out std 1/√d, biases 0), so
a_i has unit variance, and each generated layer's kernel is multiplied by a fixed, untrained
gain √(2 / fan_in) of that layer. The kernel then starts at He scale, and because Adam moves
every stored parameter by about the learning rate, one step moves generated weights by a few
percent of their scale instead of several times it (tested). The gain is the one thing not in
the paper; it is a constant per layer, not a parameter, so the counts are unchanged.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import torch
from torch import nn

from hyperzoo import distributed
from hyperzoo.devices import fork_rng
from hyperzoo.errors import ConfigError
from hyperzoo.methods.base import Method, own_parameters, param_key
from hyperzoo.notes import note
from hyperzoo.targets import LayerSpec, TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class StaticHyperConfig:
    name: str = "static"
    embedding_dim: int = 4  # N_z
    hidden_dim: int = 4  # d, the "embedding projection dimension"
    tile: int = 16  # the basic kernel is tile in × tile out channels
    # Generated layers, by name (e.g. "3") or index into the target's layers (e.g. 1).
    # None: every conv layer after the first whose channels are multiples of the tile (the
    # seed's choice in all its experiments) and whose square filters have the spatial size
    # holding the most weights (1 × 1 only where there is no other); []: none, i.e. the
    # ordinary network.
    generated: list | None = None
    # False (for comparison): no per-layer gains; W_out is initialised so that the first
    # generated layer starts at He scale, and Adam's steps are then large next to it.
    equalized: bool = True

    def __post_init__(self) -> None:
        if min(self.embedding_dim, self.hidden_dim, self.tile) < 1:
            raise ValueError("method.embedding_dim, method.hidden_dim and method.tile must be "
                             "positive")


def _eligible(layers: tuple[LayerSpec, ...], tile: int) -> list[LayerSpec]:
    """Layers the default may generate: 2-D convolutions after the first, square filters,
    channels in multiples of the tile."""
    return [s for s in layers[1:] if s.kind == "conv" and len(s.weight_shape) == 4
            and s.out_units % tile == 0 and s.in_units % tile == 0 and s.weight_shape[2] == s.weight_shape[3]]


def _select_layers(target: TargetNet, generated: list | None, tile: int) -> list[LayerSpec]:
    layers = target.layers
    if generated is None:
        # Empty for a target with none: refused for training (`check_training`), not here, so a
        # folder trained so before that check still reopens.
        fitting = _eligible(layers, tile)
        # One generator emits one filter size (a ResNet's 1 × 1 shortcuts beside its 3 × 3s
        # refused the default): the spatial kernel size holding the most weights, as Ha et al.
        # generate a ResNet's 3 × 3 kernels; 1 × 1 ones only where there are no others (a
        # bottleneck block's 1 × 1s outnumber its 3 × 3).
        weights = collections.Counter()
        for spec in fitting:
            weights[spec.weight_shape[-1]] += math.prod(spec.weight_shape)
        size = max(weights, key=lambda k: (k > 1, weights[k], k), default=None)
        return [s for s in fitting if s.weight_shape[-1] == size]
    by_name = {s.name: s for s in layers}
    chosen: list[LayerSpec] = []
    for item in generated:
        if isinstance(item, int) and not isinstance(item, bool) and -len(layers) <= item < len(layers):
            spec = layers[item]
            # YAML reads an unquoted name as a number: 2 may mean Sequential's layer "2".
            if str(item) in by_name and by_name[str(item)] is not spec:
                raise ValueError(f"method.generated: {item} is ambiguous: layer {item} by index is "
                                 f"{spec.name!r}, but a layer is named {str(item)!r}; write a name "
                                 f"in quotes (['{item}'] or ['{spec.name}'])")
        elif isinstance(item, str) and item in by_name:
            spec = by_name[item]
        else:
            raise ValueError(f"method.generated: {item!r} is not a layer of the target; its layers "
                             f"are {[s.name for s in layers]} (or indices 0..{len(layers) - 1})")
        if spec.kind != "conv" or len(spec.weight_shape) != 4:
            raise ValueError(f"method.generated: layer {spec.name!r} is not a 2-D convolution")
        out, inp, fh, fw = spec.weight_shape
        if out % tile or inp % tile or fh != fw:
            raise ValueError(f"method.generated: layer {spec.name!r} has kernel {spec.weight_shape}; "
                             f"channels must be multiples of method.tile={tile} and filters square")
        if spec in chosen:
            raise ValueError(f"method.generated names layer {spec.name!r} twice")
        chosen.append(spec)
    return chosen


class StaticHypernetwork(Method):
    """Layer embeddings + one shared two-layer linear generator, plus the ordinary parameters."""

    @classmethod
    def networks_per_step(cls, config: object) -> int:
        """1: the method is one network (no noise), and 32 copies of it per step did the same work
        32 times (seed 004's minibatch is ``train.images_per_noise``)."""
        return 1

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        # `check_settings` has no target, hence no layers: nothing to say there.
        if self.config.generated is None and getattr(self, "layers", None):
            left = [s.name for s in _eligible(self.target.layers, self.config.tile) if s not in self.layers]
            if left:  # which kernels the default chose is the run's main design decision: said
                note(f"method 'static' generates the {self.fsize} × {self.fsize} convolutions "
                     f"({', '.join(s.name for s in self.layers)}); {', '.join(left)} of other filter sizes "
                     "stay ordinary parameters (one generator emits one size: name layers in "
                     "method.generated to choose)")
        if self.config.generated is None and not getattr(self, "layers", [None]):
            # It trained the ordinary network without a word.
            raise ConfigError(f"method 'static' found no layer to generate: none of the target's layers "
                              "after the first is a 2-D convolution with square filters and channels in "
                              f"multiples of method.tile={self.config.tile}; name layers in "
                              "method.generated, or set method.generated: [] to train the ordinary network")

    def __init__(self, target: TargetNet, config: StaticHyperConfig):
        super().__init__(target)
        self.config = c = config
        self.layers = _select_layers(target, c.generated, c.tile)
        sizes = {s.weight_shape[-1] for s in self.layers}
        if len(sizes) > 1:
            by_size = {k: [s.name for s in self.layers if s.weight_shape[-1] == k] for k in sorted(sizes)}
            which = "; ".join(f"{k} × {k}: {', '.join(names)}" for k, names in by_size.items())
            raise ValueError(f"one generator emits one filter size; method.generated names filters of "
                             f"{len(sizes)} sizes ({which}): choose layers of one size")
        self.fsize = sizes.pop() if sizes else 0
        n_in, d, nz = c.tile, c.hidden_dim, c.embedding_dim
        generated = {s.weight for s in self.layers}
        self.ordinary = nn.ParameterDict({param_key(k): nn.Parameter(p)
                                          for k, p in own_parameters(target.module).items()
                                          if k not in generated})
        self.embeddings = nn.ParameterDict({
            param_key(s.name): nn.Parameter(torch.randn(s.out_units // n_in, s.in_units // n_in, nz))
            for s in self.layers})
        if self.layers:
            out_size = n_in * self.fsize ** 2  # one K_i: N_out·f·f
            he_first = math.sqrt(2 / self.layers[0].fan_in)
            self.w_in = nn.Parameter(torch.randn(n_in, d, nz) / math.sqrt(nz))
            self.b_in = nn.Parameter(torch.zeros(n_in, d))
            self.w_out = nn.Parameter(torch.randn(d, out_size) / math.sqrt(d)
                                      * (1.0 if c.equalized else he_first))
            self.b_out = nn.Parameter(torch.zeros(out_size))
        # Fixed per-layer output gains: He scale for each layer's own fan-in.
        self.gains = [math.sqrt(2 / s.fan_in) if c.equalized else 1.0 for s in self.layers]

    @property
    def max_networks(self) -> int:
        return 1

    def hypernetwork_parameters(self) -> int:
        """Parameters of the generator and the embeddings: what the seed's tables count."""
        if not self.layers:
            return 0
        return sum(p.numel() for p in (self.w_in, self.b_in, self.w_out, self.b_out,
                                       *self.embeddings.values()))

    def tile_kernels(self, z: torch.Tensor) -> torch.Tensor:
        """Kernels of embeddings ``z`` (T, N_z) without gain: ``(T, N_out, N_in, f, f)``."""
        n, f = self.config.tile, self.fsize
        a = torch.einsum("idz,tz->tid", self.w_in, z) + self.b_in  # (T, N_in, d)
        k = a @ self.w_out + self.b_out  # (T, N_in, N_out·f·f): K_i for every input channel i
        return k.reshape(-1, n, n, f, f).transpose(1, 2)

    def kernels(self) -> dict[str, torch.Tensor]:
        """Generated kernels by parameter name, each ``(out, in, f, f)``."""
        n, f = self.config.tile, self.fsize
        out: dict[str, torch.Tensor] = {}
        for spec, gain in zip(self.layers, self.gains, strict=True):
            z = self.embeddings[param_key(spec.name)]
            rows, cols = z.shape[:2]
            tiles = self.tile_kernels(z.reshape(-1, z.shape[-1])).reshape(rows, cols, n, n, f, f)
            # (out tile, in tile, out, in, f, f) → (out tile, out, in tile, in, f, f)
            out[spec.weight] = tiles.permute(0, 2, 1, 3, 4, 5).reshape(spec.weight_shape) * gain
        return out

    def network(self) -> dict[str, torch.Tensor]:
        """The one network as a plain state dict."""
        kernels = self.kernels()
        return {name: kernels[name] if name in kernels else self.ordinary[param_key(name)]
                for name in self.target.param_shapes}

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        """``n`` views of the one network, ``(n, *shape)`` (expanded, not copied)."""
        return {k: v.unsqueeze(0).expand(n, *v.shape) for k, v in self.network().items()}

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        weights = self.sample(x.shape[0])
        # Dropout masks come from a seed drawn from the trainer's generator, whose state the
        # checkpoint keeps, so a resumed run draws the same masks as an uninterrupted one. Each
        # process under torchrun folds in its rank: alike, every share of the images would get
        # the same masks.
        seed = int(torch.randint(2 ** 62, (), generator=generator))
        with fork_rng(x.device):
            torch.manual_seed(seed + distributed.OWN_DRAWS_OFFSET * distributed.process_rank())
            logits, ce = self.target.cross_entropy(weights, x, y)  # logits (N, M, C)
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": ce, "accuracy": accuracy, "cross_entropy": ce.detach()}
