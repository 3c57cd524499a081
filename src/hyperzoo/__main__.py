"""``python -m hyperzoo`` is the ``hyperzoo`` command (``torchrun ... -m hyperzoo train ...``)."""

from hyperzoo.cli import app

app(prog_name="hyperzoo")
