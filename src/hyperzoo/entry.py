"""The ``hyperzoo`` command's entry point, light enough to import before torch: Ctrl-C while
the command still imports (its first half second) ends as it does later, with exit status
130, not a traceback from inside torch's import."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from hyperzoo.cli import app
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    app(prog_name="hyperzoo")
