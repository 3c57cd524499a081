"""Imported first by the ``hyperzoo`` command, for its side effect: `runtime.configure_process`
must run before torch is imported (OpenMP reads ``OMP_WAIT_POLICY`` once, when it loads)."""

from hyperzoo.runtime import configure_process

configure_process()
