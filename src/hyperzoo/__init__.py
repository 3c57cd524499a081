"""hyperzoo: hypernetworks that generate whole neural networks.

``hyperzoo.fit(module, (x, y), ...)`` trains one from Python and ``hyperzoo.load(run_dir)``
reopens a run folder (see ``hyperzoo.api``).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Run", "fit", "load", "resume"]


def __getattr__(name: str) -> Any:
    # Lazy: the CLI imports this package and should not pay for torch before it needs it.
    if name in __all__:
        from hyperzoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'hyperzoo' has no attribute {name!r}")
