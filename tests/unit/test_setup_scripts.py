"""Set-up scripts: secure server config, limits that agree with the handlers, the Java 17 check, archives."""
from __future__ import annotations

import os
import subprocess
import sys
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
