"""The client installs and imports in a fresh virtual environment without torch, offline; and on the oldest
supported Python (3.9), with every dependency at its floor, its offline tests pass.

First test: the wheel is built from ``client/`` with this environment's setuptools and installed with
``pip install --no-deps --no-index`` into a new venv (by this environment's pip, ``--python``). Its declared
dependencies (and theirs) are then made importable by a ``.pth`` file that lists links to exactly those
distributions, taken from this environment: nothing is downloaded, and a dependency the client uses but does not
declare would fail the import, as torch must.

Second test: scripts/client_floor_env.py has Python 3.9's pip resolve the wheel from PyPI with the floors pinned
(cached under build/ keyed by the floors), and the client's tests run there against the installed copy.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

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


def _floor_env_module():
    """scripts/client_floor_env.py (wheel building, the oldest-Python venv at the client's floors), by path."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import client_floor_env
    finally:
        sys.path.pop(0)
    return client_floor_env


@pytest.mark.timeout(180)
def test_client_installs_and_imports_without_torch(tmp_path: Path) -> None:
    floors = _floor_env_module()
    wheel = floors.build_wheel(tmp_path / "wheels")

    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv)  # no ensurepip: faster
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    env = floors.clean_env()
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


OFFLINE_TESTS_SKIPPED = ("test_install.py", "test_protos.py")  # they check this repository's tooling, not the package


@pytest.mark.timeout(900)
def test_client_passes_its_tests_on_the_oldest_python_at_its_floors(tmp_path: Path) -> None:
    """pip on Python 3.9 installs the client with every dependency at its floor (protobuf 4.25.1, grpcio 1.62.3,
    ...) and the client's offline tests (fake servers, both transports, CLI) pass there against that install."""
    floors = _floor_env_module()
    python = floors.find_oldest_python()
    if python is None:
        pytest.skip(f"no Python {'.'.join(map(str, floors.OLDEST_PYTHON))} here (pyenv, PATH or ${floors.ENV_VAR})")
    venv_python = floors.floor_env(python)
    env = floors.clean_env()

    report = _run(venv_python, "-c", textwrap.dedent(
        """
        import importlib.metadata as m, importlib.util, json, sys
        import convlens_client
        print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "client": convlens_client.__file__,
                          "prefix": sys.prefix, "torch": importlib.util.find_spec("torch") is not None,
                          "versions": {d.metadata["Name"].lower(): d.version for d in m.distributions()}}))
        """), env=env, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    facts = json.loads(report.stdout)
    assert facts["python"] == ".".join(map(str, floors.OLDEST_PYTHON)) and not facts["torch"]
    assert facts["client"].startswith(facts["prefix"]), facts["client"]  # the installed copy, not client/
    for pin in floors.floor_pins():  # every dependency at exactly its floor
        name, floor = pin.split("==")
        assert Version(facts["versions"][name.lower()]) == Version(floor), (name, facts["versions"][name.lower()])

    # the tests without tests/conftest.py, which would put client/ first on sys.path
    ignore = shutil.ignore_patterns("__pycache__", *OFFLINE_TESTS_SKIPPED)
    shutil.copytree(ROOT / "tests" / "client", tmp_path / "tests", ignore=ignore)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the repository's (its options need plugins)
    run = subprocess.run([str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini",
                          "tests"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed(, \d+ warnings?)? in .*", summary), summary  # nothing skipped

    cli = _run(venv_python.parent / "convlens", "--help", env=env, cwd=tmp_path)
    assert cli.returncode == 0 and "layers" in cli.stdout, cli.stderr
