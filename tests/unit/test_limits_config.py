"""Load shedding and token settings in the written server config and the endpoint configs."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import write_config  # noqa: E402 - after the sys.path set-up above

PORTS = {"http": 1, "management": 2, "metrics": 3, "grpc": 4, "grpc_management": 5}


def parsed(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_job_queues_are_bounded_and_waits_stay_below_the_timeout():
    cfg = parsed(write_config.config_text("127.0.0.1", PORTS, ROOT / "model_store", 60))
    assert int(cfg["job_queue_size"]) == write_config.JOB_QUEUE_SIZE <= 32
    for path in sorted((ROOT / "model_store").glob("*.yaml")):
        model = yaml.safe_load(path.read_text())
        queue = model.get("jobQueueSize", write_config.JOB_QUEUE_SIZE)
        assert 1 <= queue <= 128, path.name
        assert model["maxWorkers"] >= 1 and model["batchSize"] >= 1


def test_token_lifetime_accepts_fractions_and_defaults_to_an_hour():
    assert parsed(write_config.config_text("127.0.0.1", PORTS, ROOT / "model_store", 0.2))[
        "token_expiration_min"] == "0.2"
    default = parsed(write_config.config_text("127.0.0.1", PORTS, ROOT / "model_store",
                                              write_config.TOKEN_TTL_MIN))
    assert float(default["token_expiration_min"]) == 60


def test_extra_keys_override_without_weakening_the_rest():
    cfg = parsed(write_config.config_text("127.0.0.1", PORTS, ROOT / "model_store", 60,
                                          extra={"job_queue_size": 2, "number_of_netty_threads": 4}))
    assert cfg["job_queue_size"] == "2" and cfg["number_of_netty_threads"] == "4"
    assert cfg["disable_token_authorization"] == "false" and cfg["enable_model_api"] == "false"


def test_serve_script_starts_torchserve_with_an_owner_only_umask():
    script = (ROOT / "scripts" / "serve.sh").read_text()
    assert script.index("umask 077") < script.index('"$TORCHSERVE" --start')
