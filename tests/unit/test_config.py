"""EndpointConfig: the `convlens:` section of every model YAML, typed and checked once when a worker loads."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from convlens.core import images
from occlusion import OcclusionHandler
from serving.config import ConfigError, EndpointConfig
from test_handlers import CAT, FakeContext

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "model_store").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_parses_without_warnings(path, caplog):
    section = yaml.safe_load(path.read_text())["convlens"]
    with caplog.at_level(logging.WARNING, logger="serving.config"):
        config = EndpointConfig.parse(section, path.name)
    assert not caplog.records and "max_seconds" not in section
    assert config.time_budget_s == float(section.get("time_budget_s", EndpointConfig.time_budget_s))


def test_defaults_are_the_engine_defaults():
    config = EndpointConfig.parse(None, "x.yaml")
    assert config == EndpointConfig() and config.limits == images.DEFAULT_LIMITS
    assert EndpointConfig.parse({}, "x.yaml") == config


def test_unknown_key_names_the_key_the_file_and_a_close_match():
    with pytest.raises(ConfigError, match=r"stylize\.yaml: unknown key convlens\.tiel \(did you mean tile\?\)"):
        EndpointConfig.parse({"tiel": 64}, "stylize.yaml")
    with pytest.raises(ConfigError, match=r"a\.yaml: `convlens:` must be a mapping"):
        EndpointConfig.parse(["backbone"], "a.yaml")


@pytest.mark.parametrize("key, value, message", [
    ("tile", "64", r"convlens\.tile must be int, not '64'"),
    ("max_image_side", True, r"convlens\.max_image_side must be int, not True"),
    ("max_image_side", 2.5, r"convlens\.max_image_side must be int, not 2\.5"),
    ("time_budget_s", "60", r"convlens\.time_budget_s must be float, not '60'"),
    ("weights", 3, r"convlens\.weights must be str or null, not 3"),
    ("backbone", 3, r"convlens\.backbone must be str or null, not 3"),
    ("time_budget_s", 0, r"convlens\.time_budget_s must be > 0, not 0\.0"),
    ("torch_threads", -1, r"convlens\.torch_threads must be >= 0, not -1"),
])
def test_wrong_types_and_ranges_are_refused(key, value, message):
    with pytest.raises(ConfigError, match=r"m\.yaml: " + message):
        EndpointConfig.parse({key: value}, "m.yaml")


def test_types_that_fit_are_taken():
    config = EndpointConfig.parse({"time_budget_s": 60, "weights": None, "torch_threads": 0, "tile": 64}, "m.yaml")
    assert config.time_budget_s == 60.0 and isinstance(config.time_budget_s, float)
    assert config.weights is None and config.torch_threads == 0 and config.tile == 64
    with pytest.raises(AttributeError):
        config.tile = 32  # type: ignore[misc]  # frozen


def test_max_seconds_is_a_deprecated_alias_of_time_budget_s(caplog):
    with caplog.at_level(logging.WARNING, logger="serving.config"):
        config = EndpointConfig.parse({"max_seconds": 12}, "occlusion.yaml")
    assert config.time_budget_s == 12.0
    assert "occlusion.yaml: convlens.max_seconds is deprecated; name it time_budget_s" in caplog.text
    with pytest.raises(ConfigError, match="deprecated name of convlens.time_budget_s; give only time_budget_s"):
        EndpointConfig.parse({"max_seconds": 12, "time_budget_s": 12}, "occlusion.yaml")


def test_a_bad_yaml_stops_the_worker_at_load_naming_the_archived_file():
    ctx = FakeContext()
    ctx.manifest = {"model": {"modelName": "occlusion", "configFile": "occlusion.yaml"}}
    ctx.model_yaml_config["convlens"]["max_secs"] = 50
    with pytest.raises(ConfigError, match=r"occlusion\.yaml: unknown key convlens\.max_secs \(did you mean max_s"):
        OcclusionHandler().initialize(ctx)


def test_the_old_budget_name_still_runs_occlusion_and_describe_keeps_its_key():
    ctx = FakeContext()
    ctx.model_yaml_config["convlens"]["max_seconds"] = 0.001
    handler = OcclusionHandler()
    handler.initialize(ctx)
    assert handler.config.time_budget_s == 0.001
    assert json.loads(handler.handle([{}], FakeContext({"describe": "True"}))[0])["max_seconds"] == 0.001
    answer = FakeContext()
    out = handler.handle([{"image": CAT, "size": "48", "patch": "8", "stride": "4"}], answer)
    assert answer.status == {0: 413} and json.loads(out[0])["field"] == "stride"
