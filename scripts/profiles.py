#!/usr/bin/env python
"""Which endpoints a deployment serves: CONVLENS_ENDPOINTS, a comma list of endpoint names and profile names.

A profile is an area (`attribution`, `inspect`, `synthesis`, `style`: the endpoints declared in
handlers/serving/specs/<area>.py, read from the source so that no list repeats them and nothing heavy is imported)
or `all`. Unset or empty means `all`. Unknown names are an error naming them. Standard library only: the start
scripts and the readiness probe call it.

    CONVLENS_ENDPOINTS=stylize,classify scripts/profiles.py       # prints: classify,stylize
    scripts/profiles.py style --archives                          # prints: style_transfer.mar,stylize.mar
    scripts/profiles.py stylize --uses-torch                      # exit 1: no worker of these imports torch
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

import build_models

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "handlers" / "serving" / "specs"
HANDLERS = ROOT / "handlers"
ALL = "all"
ENV = "CONVLENS_ENDPOINTS"


def declared(module: Path) -> list[str]:
    """Endpoint names of a spec module's `@endpoint("name", ...)` decorators, read without importing it."""
    names = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ClassDef):
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "endpoint"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    names.append(str(deco.args[0].value))
    return names


def profiles() -> dict[str, tuple[str, ...]]:
    """Profile name -> its endpoints (those with an archive to serve), sorted; `all` last."""
    served = set(build_models.endpoints())
    out = {}
    for module in sorted(SPECS.glob("*.py")):
        names = tuple(sorted(n for n in declared(module) if n in served))
        if names:
            out[module.stem] = names
    out[ALL] = tuple(sorted(served))
    return out


def uses_torch(endpoint: str) -> bool:
    """Whether the endpoint's worker imports torch: its handler class does not set `uses_backbone = False`
    (handlers/serving/base.py), read from the source without importing it."""
    for node in ast.walk(ast.parse((HANDLERS / f"{endpoint}.py").read_text())):
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "uses_backbone"
                                                 for t in node.targets)
                and isinstance(node.value, ast.Constant) and node.value.value is False):
            return False
    return True


def resolve(spec: str | None) -> tuple[str, ...]:
    """The endpoints named by a comma list of endpoints and profiles (None or blank: all), sorted, each once."""
    names = [n.strip() for n in (spec or "").split(",") if n.strip()] or [ALL]
    known = profiles()
    endpoints = set(known[ALL])
    unknown = [n for n in names if n not in known and n not in endpoints]
    if unknown:
        raise ValueError(f"{ENV} names unknown endpoints or profiles: {', '.join(unknown)}; profiles: "
                         f"{', '.join(known)}; endpoints: {', '.join(known[ALL])}")
    chosen = set()
    for name in names:
        chosen.update(known.get(name, (name,)))
    return tuple(sorted(chosen))


def from_env() -> tuple[str, ...]:
    """The endpoints $CONVLENS_ENDPOINTS names (all when unset)."""
    return resolve(os.environ.get(ENV))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="?", help=f"comma list of endpoints and profiles (default: ${ENV}, or all)")
    parser.add_argument("--archives", action="store_true", help="print TorchServe's load_models value instead")
    parser.add_argument("--list", action="store_true", help="print every profile with its endpoints")
    parser.add_argument("--uses-torch", action="store_true", help="print nothing; exit 0 when a chosen endpoint's "
                        "worker imports torch (the start scripts then start the zygote), 1 when none does")
    args = parser.parse_args()
    if args.list:
        for name, endpoints in profiles().items():
            print(f"{name}: {','.join(endpoints)}")
        return 0
    try:
        endpoints = resolve(args.names if args.names is not None else os.environ.get(ENV))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 64
    if args.uses_torch:
        return 0 if any(uses_torch(e) for e in endpoints) else 1
    print(",".join(f"{e}.mar" for e in endpoints) if args.archives else ",".join(endpoints))
    return 0


if __name__ == "__main__":
    sys.exit(main())
