"""Imported first by the ``hyperzoo`` command, for its side effect: `runtime.configure_process`
(the allocator's thresholds) runs before torch is imported and allocates anything."""

from hyperzoo.runtime import configure_process

configure_process()
