"""The client installs and imports in a fresh virtual environment without torch, offline.

The wheel is built from ``client/`` with this environment's setuptools and installed with
``pip install --no-deps --no-index`` into a new venv (by this environment's pip, ``--python``). Its declared dependencies (and theirs) are
then made importable by a ``.pth`` file that lists links to exactly those distributions, taken
from this environment: nothing is downloaded, and a dependency the client uses but does not
declare would fail the import, as torch must.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _closure(name: str, extras: frozenset = frozenset()) -> set[str]:
    """The distribution ``name`` and every distribution it requires (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist = md.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _link_distributions(names: set[str], into: Path) -> None:
    """Symlink each distribution's top-level files (packages, modules, dist-info) into ``into``."""
    into.mkdir()
    for name in names:
        dist = md.distribution(name)
        base = Path(str(dist.locate_file("")))
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            link = into / top
            if not link.exists() and (base / top).exists():
                link.symlink_to(base / top)


def _run(*cmd: object, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.timeout(180)
def test_client_installs_and_imports_without_torch(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                 "-w", wheels, ROOT / "client")
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("convlens_client-*.whl"))

    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv)  # no ensurepip: faster
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # this environment's pip installs into the new one (pip >= 22.3: --python)
    installed = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel,
                     env=env)
    assert installed.returncode == 0, installed.stderr

    # the declared dependencies, from this environment, by a .pth file (offline)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     env=env).stdout.strip())
    deps = _closure("httpx") | _closure("grpcio") | _closure("protobuf") | _closure("googleapis-common-protos")
    metadata = _run(python, "-c", "import importlib.metadata as m; print('\\n'.join(m.requires('convlens-client')))",
                    env=env).stdout.split("\n")
    declared = {Requirement(r).name.lower() for r in metadata if r and "extra ==" not in r}
    assert declared == {"protobuf", "grpcio", "googleapis-common-protos", "httpx"}
    assert not any(d.startswith("torch") for d in deps)
    _link_distributions(deps, tmp_path / "deps")
    (site / "convlens_deps.pth").write_text(str(tmp_path / "deps") + "\n")

    check = textwrap.dedent(
        """
        import importlib.util, sys
        import convlens_client
        from convlens_client import AsyncClient, Client
        from convlens_client import cli
        with Client(transport="grpc", token="t") as c:
            assert c.transport_name == "grpc"
        with Client(token="t") as c:
            pass
        assert importlib.util.find_spec("torch") is None, "torch is importable"
        heavy = sorted(m for m in ("torch", "numpy", "PIL") if m in sys.modules)
        assert not heavy, heavy
        assert convlens_client.__file__.startswith(sys.prefix), convlens_client.__file__
        print("ok", convlens_client.__version__)
        """
    )
    imported = _run(python, "-c", check, env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("ok ")
    cli = _run(venv / "bin" / "convlens", "--help", env=env, cwd=tmp_path)
    assert cli.returncode == 0 and "layers" in cli.stdout, cli.stderr
