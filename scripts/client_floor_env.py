#!/usr/bin/env python3
"""A virtual environment of the client's oldest supported Python with the client at its dependency floors.

The floors come from client/pyproject.toml's dependencies (``name>=X`` becomes ``name==X``, the ``images``
extra included), so the environment follows the package's own claims. The interpreter is ``$CONVLENS_PY39``,
else pyenv's newest 3.9.x, else ``python3.9`` on PATH. Its pip resolves the client's wheel (built from client/
by the running interpreter) against PyPI under those pins, plus pytest for the client's tests; the result is
cached under build/ keyed by the interpreter, the floors and the tools. Every call reinstalls the current
client (no deps; the wheel's Requires-Python is still checked) and runs ``pip check``.

Usage::

    python scripts/client_floor_env.py      # prints the environment's python (exit 2: no such Python here)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "client" / "pyproject.toml"
CACHE = ROOT / "build"
OLDEST_PYTHON = (3, 9)  # the client's promise (issue 6: "Python 3.9+"); requires-python says the same
ENV_VAR = "CONVLENS_PY39"  # an interpreter of OLDEST_PYTHON, when it is not found on its own
TEST_TOOLS = ("pytest",)  # what the client's tests need besides the client and its images extra


def _project() -> dict:
    """client/pyproject.toml's [project] table."""
    import tomllib  # the running interpreter is the repository's (3.11)

    return tomllib.loads(PYPROJECT.read_text())["project"]


def floor_pins() -> list[str]:
    """``name==floor`` for every dependency of the client and its extras (from their ``>=`` bounds)."""
    project = _project()
    specs = list(project["dependencies"]) + [d for ds in project.get("optional-dependencies", {}).values() for d in ds]
    pins = []
    for spec in specs:
        found = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", spec)
        if not found:
            raise ValueError(f"dependency without a '>=' floor: {spec!r}")
        pins.append(f"{found.group(1)}=={found.group(2)}")
    return sorted(pins)


def _pyenv_root() -> str | None:
    """What ``pyenv root`` says, when pyenv is on PATH."""
    if not shutil.which("pyenv"):
        return None
    done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _candidates() -> Iterator[Path]:
    """Interpreters that may be the oldest supported Python, most specific first."""
    major, minor = OLDEST_PYTHON
    name = f"python{major}.{minor}"
    roots = [os.environ.get("PYENV_ROOT"), _pyenv_root(), str(Path.home() / ".pyenv")]
    for root in dict.fromkeys(filter(None, roots)):
        versions = Path(root) / "versions"
        found = [p for p in versions.glob(f"{major}.{minor}.*") if re.fullmatch(rf"{major}\.{minor}\.\d+", p.name)]
        for version in sorted(found, key=lambda p: int(p.name.rsplit(".", 1)[1]), reverse=True):
            yield version / "bin" / name
    on_path = shutil.which(name)
    if on_path:
        yield Path(on_path)


def _runs_as(python: Path, version: tuple[int, int]) -> bool:
    """Whether ``python`` starts, is that version and can make venvs (ensurepip is there)."""
    check = "import sys, ensurepip, venv; print('%d.%d' % sys.version_info[:2])"
    try:
        done = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "{}.{}".format(*version)


def find_oldest_python() -> Path | None:
    """The oldest supported Python on this machine; ``$CONVLENS_PY39`` must be one if it is set."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        if not _runs_as(Path(chosen), OLDEST_PYTHON):
            raise RuntimeError(f"${ENV_VAR}={chosen} is not a working Python %d.%d with venv" % OLDEST_PYTHON)
        return Path(chosen)
    return next((p for p in _candidates() if p.is_file() and _runs_as(p, OLDEST_PYTHON)), None)


def clean_env() -> dict[str, str]:
    """This process's environment without what would point a child Python at this checkout or this venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _run(cmd: list[object], timeout: float = 600) -> str:
    """Run a command (in :func:`clean_env`); raise with its output when it fails."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=clean_env())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_wheel(out: Path) -> Path:
    """The client's wheel, built from client/ by the running interpreter (offline, no build isolation).

    setuptools reuses client/build/ without clearing it, so a wheel built there after modules moved would still
    carry the old ones: start from an empty build folder."""
    shutil.rmtree(ROOT / "client" / "build", ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", out, ROOT / "client"])
    return next(out.glob("convlens_client-*.whl"))


def _key(python: Path) -> str:
    """Cache key: the interpreter (path and exact version), the floors and the test tools."""
    version = _run([python, "-c", "import sys; print(sys.version)"]).strip()
    text = json.dumps([str(python.resolve()), version, floor_pins(), TEST_TOOLS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _create(python: Path, venv: Path, wheel: Path) -> None:
    """A new venv in which that Python's pip resolves the client (with extras) at its floors, plus pytest."""
    _run([python, "-m", "venv", "--clear", venv], timeout=120)
    pins = venv / "floors.txt"
    pins.write_text("\n".join(floor_pins()) + "\n")
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", pins,
          f"{wheel}[images]", *TEST_TOOLS])


def floor_env(python: Path) -> Path:
    """The cached floor venv for ``python`` with the current client installed; returns its interpreter."""
    CACHE.mkdir(exist_ok=True)
    key = _key(python)
    venv = CACHE / f"client-floor-{key}"
    with open(CACHE / "client-floor.lock", "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheel = build_wheel(Path(tmp))
        done = venv / "complete"
        if not done.is_file():
            for old in CACHE.glob("client-floor-*"):
                if old.is_dir() and old != venv:
                    shutil.rmtree(old)
            _create(python, venv, wheel)
            done.write_text(key + "\n")
        pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "install", "-q", "--no-deps", "--force-reinstall", wheel])
        _run([*pip, "check"])
    return venv / "bin" / "python"


def main() -> int:
    python = find_oldest_python()
    if python is None:
        print("no Python {}.{} found (set ${})".format(*OLDEST_PYTHON, ENV_VAR), file=sys.stderr)
        return 2
    print(floor_env(python))
    return 0


if __name__ == "__main__":
    sys.exit(main())
