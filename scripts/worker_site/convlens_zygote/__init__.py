"""A fork server ("zygote") for TorchServe's workers: torch imported once, every worker forked from it.

TorchServe's frontend starts each worker as a fresh `python ts/model_service_worker.py`; each one importing torch
holds ~300 MiB of private memory. With $CONVLENS_ZYGOTE_SOCKET set, the process the frontend starts is only a shim
(`shim.py`, run from scripts/worker_site/sitecustomize.py): it hands its argv, environment, working directory and
standard streams to the zygote (`server.py`), which forks a child that becomes the worker (`child.py`), so the pages
the imports wrote are shared copy-on-write. The wire format is `protocol.py`. docs/operations.md: "Fork server".
"""
from __future__ import annotations

SOCKET_ENV = "CONVLENS_ZYGOTE_SOCKET"  # the zygote's unix socket; unset: workers start as TorchServe starts them
SWITCH_ENV = "CONVLENS_ZYGOTE"  # "0": the launchers start no zygote and the shim never uses one
PRELOAD_ENV = "CONVLENS_ZYGOTE_PRELOAD"  # comma list of modules the zygote imports (default: server.PRELOAD)
LOG_PREFIX = "convlens-zygote:"


def enabled(env: dict[str, str]) -> bool:
    """Whether the fork server is switched on (it is unless CONVLENS_ZYGOTE is 0, off, false or no)."""
    return env.get(SWITCH_ENV, "1").strip().lower() not in ("0", "off", "false", "no")
