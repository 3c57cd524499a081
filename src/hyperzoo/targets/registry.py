"""Targets by name: the built-in zoo or any importable ``package.module:Class``."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.targets.zoo import (
    VGGCIFAR,
    CIFARResNet,
    DeutschMNIST,
    DigitsNet,
    HyperGANCIFAR,
    HyperGANMNIST,
    LeNetCIFAR,
    Point,
    RegressionMLP,
    StaticMNIST,
)

BUILTIN: dict[str, type[nn.Module]] = {
    "deutsch_mnist": DeutschMNIST,
    "hypergan_mnist": HyperGANMNIST,
    "hypergan_cifar": HyperGANCIFAR,
    "lenet_cifar": LeNetCIFAR,
    "digits_net": DigitsNet,
    "static_mnist": StaticMNIST,
    "vgg_cifar": VGGCIFAR,
    "resnet_cifar": CIFARResNet,
    "regression_mlp": RegressionMLP,
    "point": Point,
}


def build_target(name: str, kwargs: dict[str, Any] | None = None, trust_code: bool = True) -> nn.Module:
    """Instantiate a built-in target or ``package.module:Class`` with ``kwargs``.

    Importing a class runs its module's code: ``trust_code=False`` (a config read from a run
    folder, i.e. someone else's data) refuses import paths."""
    kwargs = kwargs or {}
    if name in BUILTIN:
        cls: Any = BUILTIN[name]
    elif ":" not in name:
        raise ConfigError(f"unknown target {name!r}; expected one of {', '.join(BUILTIN)} "
                          "or an import path 'package.module:Class'")
    elif not trust_code:
        raise ConfigError(f"target {name!r} is an import path read from a run folder; importing it "
                          "runs that code: pass --trust-code (trust_code=True) if you trust the folder")
    else:
        cls = import_class(name)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as e:  # a misspelt or missing keyword: the user's config, not a bug
        raise ConfigError(f"target.kwargs {kwargs} do not fit target {name!r}: {e}") from None
    except ValueError:  # no signature to check (a builtin callable): let the call speak
        pass
    module = cls(**kwargs)
    if not isinstance(module, nn.Module):
        raise ConfigError(f"target {name!r} built a {type(module).__name__}, not an nn.Module")
    return module


def import_class(name: str) -> Any:
    """The object ``package.module:Class`` names; the working directory is searched last
    (a console script, unlike ``python -m``, does not put it on ``sys.path``)."""
    add_import_paths([os.getcwd()])
    mod_name, _, attr = name.partition(":")
    if "/" in mod_name or "\\" in mod_name or mod_name.endswith(".py"):
        # A file path: Python imports modules by dotted name from folders on its path.
        file = Path(mod_name.replace("\\", "/"))
        dotted = ".".join(file.with_suffix("").parts)
        relative = not (file.is_absolute() or mod_name.startswith("~") or {".", ".."} & set(file.parts))
        also = f" (or {dotted}:{attr} from the folder you run in)" if relative and len(file.parts) > 1 else ""
        raise ConfigError(f"target {name!r} names a file; name its module instead: {file.stem}:{attr} with "
                          f"--import-path {file.parent}{also}")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        if e.name is not None and e.name != mod_name and not mod_name.startswith(e.name + "."):
            # The module was found; something it imports was not.
            raise ConfigError(f"target {name!r}: importing {mod_name!r} failed: {e}") from e
        raise ConfigError(f"target {name!r} cannot be imported: {e} (searched the working directory "
                          "and sys.path; add folders with --import-path)") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ConfigError(f"target {name!r} cannot be imported: {e}") from e


# --- Where user code is imported from (kept apart: run folders may gate this separately) ---

def add_import_paths(paths: list[str | Path]) -> None:
    """Append folders to ``sys.path`` (once each) so user models in them import by name."""
    for p in paths:
        folder = str(Path(p).expanduser().resolve())
        if not Path(folder).is_dir():
            raise ConfigError(f"--import-path {str(p)!r} is not a folder")
        if folder not in sys.path:
            sys.path.append(folder)


def import_path_of(module: nn.Module) -> str | None:
    """``package.module:Class`` of a module's class when a fresh process can import it
    (not defined in ``__main__``, a notebook or a function); else None."""
    cls = type(module)
    if cls.__module__ in ("__main__", "builtins") or "<locals>" in cls.__qualname__:
        return None
    name = f"{cls.__module__}:{cls.__qualname__}"
    try:
        found = getattr(importlib.import_module(cls.__module__), cls.__qualname__, None)
        return name if found is cls else None
    except ImportError:
        return None
