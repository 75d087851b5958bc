"""The service layer: :class:`Executive`, the one public surface of the daemon, and its sub-services.

Every transport (api/) and the CLI call only this package; it owns the kernel, the
runtimes, the store and the agents and pipeline layers (DESIGN.md §2).
"""

from executive.runtimes.heap import limit_malloc_arenas
from executive.service.executive import BASE_ENV_KEYS, Executive, OutputWatch, load_allow_list

__all__ = ["BASE_ENV_KEYS", "Executive", "OutputWatch", "limit_malloc_arenas", "load_allow_list"]
