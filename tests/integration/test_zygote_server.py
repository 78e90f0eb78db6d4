"""Workers forked from the zygote (scripts/worker_site/convlens_zygote) behind the real TorchServe: they answer
over HTTP and gRPC, they are the zygote's children, the frontend's `[PID]` is theirs, and a killed worker, a scaled
up or down model are handled by the frontend as without the zygote. Runs on the session server (conftest.py),
which forks its workers unless CONVLENS_ZYGOTE=0; a quick run:
CONVLENS_TEST_ENDPOINTS=classify,saliency,stylize .venv/bin/python -m pytest tests/integration/test_zygote_server.py
"""
from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import convlens_zygote  # scripts/worker_site, on sys.path through local_server (conftest.py)
import numpy as np
import pytest
import requests
from PIL import Image

from local_server import children
from test_serving import CAT, CAT_CLASSES, TRANSPORTS, client


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, also between opening its stat file and reading it
        return False


@pytest.fixture(scope="module")
def forked(server):
    """The session server, which must fork its workers here (CONVLENS_ZYGOTE=0 skips this file)."""
    if not convlens_zygote.enabled(dict(os.environ)):
        pytest.skip("CONVLENS_ZYGOTE=0: the server starts its workers without a zygote")
    served = {m["modelName"] for m in requests.get(server.url("/models", "management"), timeout=30, headers={
        "Authorization": f"Bearer {server.key('management')}"}).json()["models"]}
    missing = {"classify", "saliency"} - served
    if missing:
        pytest.skip(f"the session server does not serve {sorted(missing)}")
    assert server.zygote_pid is not None, "a server with torch endpoints must start a zygote"
    return server


def wait_for_workers(server, model: str, count: int, exclude: set[int] = frozenset(), timeout: float = 180) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.worker_pids(model)
        if len(pids) == count and not set(pids) & exclude:
            return pids
        time.sleep(0.5)
    raise AssertionError(f"{model}: not {count} new READY workers in {timeout:.0f}s: {server.describe(model)}")


def scale(server, model: str, workers: int) -> None:
    response = requests.put(server.url(f"/models/{model}?min_worker={workers}&max_worker={workers}"
                                       "&synchronous=true", "management"), timeout=180,
                            headers={"Authorization": f"Bearer {server.key('management')}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_forked_workers_answer_and_are_the_zygotes_children(forked, transport):
    for model in ("classify", "saliency"):
        for pid in forked.worker_pids(model):  # the pid the frontend parsed from the worker's `[PID]` line
            assert parent(pid) == forked.zygote_pid
            assert "convlens_zygote.server" in Path(f"/proc/{pid}/cmdline").read_text()  # a fork keeps its argv
    shims = [pid for pid in children(forked.frontend_pid()) if "model_service_worker.py" in cmdline(pid)]
    assert len(shims) == sum(len(forked.worker_pids(m)) for m in forked.ready_s)  # one shim per worker
    with client(forked, transport) as c:
        top = c.classify(CAT, topk=3)
        heat = c.saliency(CAT, target=285, method="gradient", size=64)
    assert top[0].index in CAT_CLASSES and top[0].probability > 0.3
    assert heat.target.label == "Egyptian cat" and heat.predicted.index in CAT_CLASSES
    assert (heat.height, heat.width) == (64, 96) and np.isfinite(heat.array).all() and heat.max > heat.min


def test_stylize_answers_from_a_forked_worker(forked):
    if "stylize" not in forked.ready_s:
        pytest.skip("stylize not served")
    photo = io.BytesIO()
    Image.fromarray(np.indices((48, 64)).sum(0).astype(np.uint8)[..., None].repeat(3, 2)).save(photo, "PNG")
    answer = requests.post(forked.url("/predictions/stylize"), files={"image": photo.getvalue()}, timeout=120,
                           data={"style": "pointillism", "format": "png"},
                           headers={"Authorization": f"Bearer {forked.key('inference')}"})
    assert answer.status_code == 200, answer.text
    picture = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert picture.shape == (48, 64, 3) and picture.std() > 10
    (pid,) = forked.worker_pids("stylize")
    assert parent(pid) == forked.zygote_pid


def test_a_killed_worker_is_replaced_by_a_new_fork(forked):
    (old,) = forked.worker_pids("saliency")
    os.kill(old, signal.SIGKILL)  # a crash: the zygote reaps it, its shim dies of the same signal
    (new,) = wait_for_workers(forked, "saliency", 1, exclude={old})
    assert parent(new) == forked.zygote_pid and not running(old)
    with client(forked, "http") as c:
        assert c.saliency(CAT, target=285, method="gradient", size=64).target.label == "Egyptian cat"
    log = "".join(p.read_text(errors="replace") for p in sorted((forked.workdir / "logs").glob("model_log*.log")))
    assert f"worker forked by the zygote as pid {new}" in log  # the shim says which path it took


def test_scaling_up_forks_and_scaling_down_ends_the_fork_and_its_shim(forked):
    (first,) = forked.worker_pids("saliency")
    scale(forked, "saliency", 2)
    pids = wait_for_workers(forked, "saliency", 2)
    assert all(parent(pid) == forked.zygote_pid for pid in pids)
    scale(forked, "saliency", 1)
    (kept,) = wait_for_workers(forked, "saliency", 1)
    gone = set(pids) - {kept}
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in gone) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in gone), "a scaled-down worker outlived its shim"
    with client(forked, "grpc") as c:
        assert c.classify(CAT, topk=1)[0].index in CAT_CLASSES
