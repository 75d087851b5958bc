"""executive: run, supervise, debug and orchestrate long-running work."""

__version__ = "0.1.0"
