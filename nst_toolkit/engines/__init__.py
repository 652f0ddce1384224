"""The engines and their registry (see :mod:`nst_toolkit.engines.registry`)."""

from .registry import EngineSpec, build, get, names, register, specs, unregister

__all__ = ["EngineSpec", "build", "get", "names", "register", "specs", "unregister"]
