"""Choosing what a deployment serves (scripts/profiles.py, CONVLENS_ENDPOINTS): profiles are the spec areas, names
resolve to endpoints, unknown names are refused by name, and the config and start scripts follow the choice."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_models  # noqa: E402 - after the sys.path set-up above
import profiles  # noqa: E402 - after the sys.path set-up above
import write_config  # noqa: E402 - after the sys.path set-up above
from serving.specs import SPECS  # noqa: E402 - registers every area's endpoints


def test_profiles_are_the_spec_areas_and_cover_every_endpoint_once():
    known = profiles.profiles()
    assert set(known) == {"attribution", "inspect", "synthesis", "style", "all"}
    areas = [e for name, endpoints in known.items() if name != "all" for e in endpoints]
    assert sorted(areas) == sorted(known["all"]) == sorted(build_models.endpoints()) == sorted(SPECS)
    for area, endpoints in known.items():  # the area is the module that declares the endpoint's spec
        if area != "all":
            assert {SPECS[e].params.__module__ for e in endpoints} == {f"serving.specs.{area}"}, area
    assert known["style"] == ("style_transfer", "stylize")
    assert not set(known) & set(known["all"]), "a profile name would shadow an endpoint"


@pytest.mark.parametrize(("chosen", "expected"), [
    ("stylize,classify", ("classify", "stylize")),
    (" stylize , ", ("stylize",)),
    ("style,classify,stylize", ("classify", "style_transfer", "stylize")),
    ("attribution", ("classify", "occlusion", "saliency", "segment")),
    (None, tuple(build_models.endpoints())),
    ("", tuple(build_models.endpoints())),
    ("all,stylize", tuple(build_models.endpoints())),
])
def test_resolve_known_answers(chosen, expected):
    assert profiles.resolve(chosen) == expected


def test_unknown_names_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"unknown endpoints or profiles: stylise, Style;") as error:
        profiles.resolve("stylize,stylise,Style")
    assert "CONVLENS_ENDPOINTS" in str(error.value) and "style_transfer" in str(error.value)


def test_command_line_prints_endpoints_archives_and_errors():
    def run(*args: str, chosen: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "CONVLENS_ENDPOINTS"}
        if chosen is not None:
            env["CONVLENS_ENDPOINTS"] = chosen
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "profiles.py"), *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert run(chosen="stylize,classify").stdout == "classify,stylize\n"
    assert run("style", "--archives").stdout == "style_transfer.mar,stylize.mar\n"
    bad = run(chosen="classify,nope")
    assert bad.returncode == 64 and bad.stdout == "" and "unknown endpoints or profiles: nope;" in bad.stderr


def test_write_config_loads_only_the_chosen_archives(tmp_path):
    for name in ("classify", "stylize", "saliency"):
        (tmp_path / f"{name}.mar").write_text("x")
    assert write_config.chosen_archives(tmp_path, "stylize,classify") == "classify.mar,stylize.mar"
    with pytest.raises(ValueError, match="no archive .* for occlusion, segment"):
        write_config.chosen_archives(tmp_path, "attribution")
    out = tmp_path / "config.properties"
    env = {**os.environ, "CONVLENS_ENDPOINTS": "stylize"}
    cmd = [sys.executable, str(ROOT / "scripts" / "write_config.py"), "--out", str(out), "--model-store", str(tmp_path)]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=60).returncode == 0
    assert "load_models=stylize.mar\n" in out.read_text()
    refused = subprocess.run(cmd, env={**env, "CONVLENS_ENDPOINTS": "stylize,bogus"}, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and "bogus" in refused.stderr


def test_serve_script_refuses_unknown_endpoints_before_starting_anything(tmp_path):
    env = {**os.environ, "CONVLENS_RUN_DIR": str(tmp_path / "run"), "CONVLENS_ENDPOINTS": "classify,clasify"}
    result = subprocess.run([str(ROOT / "scripts" / "container_start.sh")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 64
    assert "unknown endpoints or profiles: clasify;" in result.stderr
    assert not (tmp_path / "run" / "config.properties").exists()


def test_uses_torch_reads_each_handlers_uses_backbone_and_the_cli_says_whether_to_start_a_zygote():
    import importlib
    import inspect

    from serving.base import ConvLensHandler

    for endpoint in build_models.endpoints():
        module = importlib.import_module(endpoint)
        [handler] = [c for _, c in inspect.getmembers(module, inspect.isclass)
                     if issubclass(c, ConvLensHandler) and c.__module__ == endpoint]
        assert profiles.uses_torch(endpoint) == handler.uses_backbone, endpoint
    assert not profiles.uses_torch("stylize") and profiles.uses_torch("classify")
    script = str(ROOT / "scripts" / "profiles.py")
    for chosen, code in (("stylize", 1), ("stylize,classify", 0), ("style", 0)):
        assert subprocess.run([sys.executable, script, chosen, "--uses-torch"], capture_output=True,
                              timeout=60).returncode == code, chosen


def test_the_test_and_benchmark_server_starts_a_zygote_for_models_named_after_no_endpoint(monkeypatch):
    import local_server

    monkeypatch.delenv("CONVLENS_ZYGOTE", raising=False)
    assert not local_server.wants_zygote(("stylize",))
    assert local_server.wants_zygote(("stylize", "classify"))
    # benchmark variants (classify_before, stylize_shipped) and test doubles have archives but no handler file
    assert local_server.wants_zygote(("stylize_before",)) and local_server.wants_zygote(("slow", "stylize"))
    monkeypatch.setenv("CONVLENS_ZYGOTE", "0")
    assert not local_server.wants_zygote(("classify_before",))
