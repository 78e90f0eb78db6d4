"""TorchServe workers load torch only when something uses it (`stylize`, ONNX Runtime only, never does), and are
forked from the zygote when one is running (convlens_zygote: torch imported once, shared by every worker).

TorchServe 0.12's worker imports torch at start (ts/protocol/otf_message_handler.py, only to recognise a handler
that returns a tensor; ConvLens handlers return bytes), which costs every worker hundreds of MB and seconds of CPU.
scripts/serve.sh and scripts/local_server.py put this folder on PYTHONPATH, which the frontend passes on to its
workers; in a worker (and only there) `torch` becomes a lazy module that runs its code on first access to an
attribute it does not have yet, or first import of a submodule, so endpoints that use torch behave as before.
(importlib.util.LazyLoader does not do: on Python 3.11 `import torch` itself reads `__spec__` and loads it.)
"""
from __future__ import annotations

import importlib.util
import sys
import types

WORKER_SCRIPT = "model_service_worker.py"  # what TorchServe's frontend runs for each worker


class LazyModule(types.ModuleType):
    """A module whose name, spec and file are there from the start and whose code runs on first need."""

    def __getattr__(self, attr: str) -> object:
        spec = self.__spec__
        self.__class__ = types.ModuleType
        if spec.submodule_search_locations is not None:
            self.__path__ = spec.submodule_search_locations
        spec.loader.exec_module(self)
        return getattr(self, attr)


def lazy(name: str) -> None:
    """Register `name` as a LazyModule; without `__path__` until loaded, so importing a submodule loads it first."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or name in sys.modules:
        return
    module = importlib.util.module_from_spec(spec)
    vars(module).pop("__path__", None)
    module.__class__ = LazyModule
    sys.modules[name] = module


if sys.argv and sys.argv[0].endswith(WORKER_SCRIPT):
    from convlens_zygote import shim

    shim.main()  # with a zygote: this process only mirrors the worker forked there, and never returns
    lazy("torch")
