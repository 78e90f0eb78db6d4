"""Set-up scripts: secure server config, limits that agree with the handlers, the Java 17 check, archives (only
serving code in them)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_models  # noqa: E402 - after the sys.path set-up above
import write_config  # noqa: E402 - after the sys.path set-up above

PORTS = {"http": 18080, "management": 18081, "metrics": 18082, "grpc": 17070, "grpc_management": 17071}


def config(**kwargs) -> dict[str, str]:
    text = write_config.config_text("127.0.0.1", PORTS, ROOT / "model_store", token_ttl_min=60, **kwargs)
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_server_config_is_secure_by_default():
    cfg = config()
    assert cfg["inference_address"] == "http://127.0.0.1:18080"
    assert cfg["management_address"] == "http://127.0.0.1:18081"
    assert cfg["grpc_inference_address"] == cfg["grpc_management_address"] == "127.0.0.1"
    assert cfg["disable_token_authorization"] == "false" and cfg["enable_model_api"] == "false"
    assert cfg["allowed_urls"].startswith("file://") and cfg["allowed_urls"].endswith("model_store/.*")
    assert "http" not in cfg["allowed_urls"]
    assert cfg["metrics_mode"] == "prometheus" and cfg["install_py_dep_per_model"] == "false"


def test_size_limits_are_raised_together_and_match_the_handlers():
    cfg = config()
    request, response = int(cfg["max_request_size"]), int(cfg["max_response_size"])
    assert request == response >= 12_000_000 * 3 // 2  # a 12-megapixel photo, even as PNG, fits
    for path in (ROOT / "model_store").glob("*.yaml"):
        limits = yaml.safe_load(path.read_text())["convlens"]
        # the handler's own per-image limit sits below the server's, so the handler can answer 413 itself,
        # and a base64 copy of the largest image it accepts still fits in a JSON body
        assert limits["max_image_bytes"] * 4 // 3 < request, path.name
        assert limits["max_image_pixels"] >= 12_000_000, path.name


def test_every_endpoint_has_a_config_and_a_handler():
    configs = {p.stem for p in (ROOT / "model_store").glob("*.yaml")}
    assert set(build_models.endpoints()) == configs >= {"classify", "saliency"}
    for name in configs:
        cfg = yaml.safe_load((ROOT / "model_store" / f"{name}.yaml").read_text())
        assert cfg["responseTimeout"] <= 120 and cfg["maxWorkers"] >= cfg["minWorkers"] >= 1


@pytest.mark.parametrize("java_version, expected", [(None, "Java 17 was not found"),
                                                    ('openjdk version "11.0.2" 2019-01-15', "is Java 11")])
def test_install_explains_a_missing_or_old_java(tmp_path, java_version, expected):
    java_home = tmp_path / "jdk"
    if java_version:
        (java_home / "bin").mkdir(parents=True)
        java = java_home / "bin" / "java"
        java.write_text(f"#!/bin/sh\necho '{java_version}' >&2\n")
        java.chmod(0o755)
    result = subprocess.run([str(ROOT / "scripts" / "install.sh")], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "JAVA_HOME": str(java_home)})
    assert result.returncode == 1
    assert expected in result.stderr and "openjdk-17" in result.stderr


def test_loaded_models_are_the_archives_never_all(tmp_path):
    """`all` would also register the store's stylizers/ folder as a model whose worker dies and restarts forever."""
    for name in ("b.mar", "a.mar", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "stylizers").mkdir()
    text = write_config.config_text("127.0.0.1", PORTS, tmp_path, token_ttl_min=60)
    assert "load_models=a.mar,b.mar\n" in text
    assert "load_models=classify.mar\n" in write_config.config_text("127.0.0.1", PORTS, tmp_path, 60, "classify.mar")



def imported_modules(tree: ast.Module, package: str) -> set[str]:
    """Every module `tree` imports (relative imports resolved against `package`, the dotted package it sits in), and
    the packages above each one (importing a.b runs a/__init__.py)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            anchor = package.split(".")[:package.count(".") + 2 - node.level] if node.level else []
            base = ".".join(p for p in [*anchor, node.module or ""] if p)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}


def build_time_code(tree: ast.Module, imports: set[str]) -> list[str]:
    """What marks a module as build-time: ONNX export or graph editing, the build tools, a command line."""
    found = [f"imports {m}" for m in sorted(imports) if m.split(".")[0] in ("onnx", "tools") or m == "torch.onnx"]
    found += ["uses torch.onnx" for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "onnx"
              and isinstance(node.value, ast.Name) and node.value.id == "torch"]
    found += ["has a __main__ entry point" for node in ast.walk(tree) if isinstance(node, ast.Constant)
              and node.value == "__main__"]
    return found


def test_archives_carry_only_what_serves(tmp_path):
    """The stylize archive (the one with assets), as built, holds exactly build_models.packed_files (what its
    rebuild digest hashes) and its config, and no build-time code: no ONNX export or graph editing, no import of
    tools/, no command line, no module that no endpoint imports (moved back from tools/, the trainer, exporter and
    training networks fail here)."""
    mar = build_models.archive("stylize", tmp_path, ROOT / "model_store" / "stylize.yaml")
    with zipfile.ZipFile(mar) as archive:
        names = set(archive.namelist()) - {"MAR-INF/MANIFEST.json", "stylize.yaml"}
        files = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
    assert names == set(build_models.packed_files("stylize"))
    assert {"stylizers/mosaic4.onnx", "convlens/stylize/runtime.py", "convlens/style/transfer.py"} <= names
    imports = {}
    for name, source in files.items():
        module = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        tree = ast.parse(source)
        imports[module] = imported_modules(tree, module if name.endswith("__init__.py") else module.rpartition(".")[0])
        assert not build_time_code(tree, imports[module]), f"{name}: {build_time_code(tree, imports[module])}"
    # imported on first use, by name from a table (a worker loads only its own area's wire forms and specs)
    from serving import encode, specs

    imports["serving.encode"] |= {f"serving.{m}" for m in encode.WIRE_MODULES.values()}
    imports["serving.specs"] |= {f"serving.specs.{area}" for area in specs.AREAS}
    reached, todo = set(), [n for n in build_models.endpoints() if n in imports]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += [m for m in imports[module] if m in imports]
    assert set(imports) - reached == set(), "packed, but no endpoint imports it"
