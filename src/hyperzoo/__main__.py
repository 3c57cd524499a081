"""``python -m hyperzoo`` is the ``hyperzoo`` command (``torchrun ... -m hyperzoo train ...``)."""

from hyperzoo.entry import main

main()
