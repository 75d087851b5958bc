"""The typed results of every public service method, one module per group.

Why TypedDicts and not models: see core.py.  ``rpc.discover`` publishes their JSON
Schema (pydantic ``TypeAdapter``); tests/api/test_result_schemas.py validates real
replies against it.
"""

from executive.service.results.agents import *  # noqa: F403
from executive.service.results.agents import __all__ as _agents
from executive.service.results.cluster import *  # noqa: F403
from executive.service.results.cluster import __all__ as _cluster
from executive.service.results.core import *  # noqa: F403
from executive.service.results.core import __all__ as _core
from executive.service.results.dashboard import *  # noqa: F403
from executive.service.results.dashboard import __all__ as _dashboard
from executive.service.results.debug import *  # noqa: F403
from executive.service.results.debug import __all__ as _debug
from executive.service.results.pipelines import *  # noqa: F403
from executive.service.results.pipelines import __all__ as _pipelines
from executive.service.results.programs import *  # noqa: F403
from executive.service.results.programs import __all__ as _programs
from executive.service.results.vm import *  # noqa: F403
from executive.service.results.vm import __all__ as _vm

__all__ = [*_agents, *_cluster, *_core, *_dashboard, *_debug, *_pipelines, *_programs, *_vm]
