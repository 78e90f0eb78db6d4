"""The client installed on Python 3.9 with every dependency at its floor (protobuf 4.25.1, grpcio 1.62.3, ...)
against the real TorchServe, over HTTP and gRPC: the same answers, bit for bit, as this checkout's client on 3.11.

The calls live in PROBE, run as they are by both interpreters: the 3.9 one in a subprocess of the cached floor
venv (scripts/client_floor_env.py), printing JSON.
"""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from PIL import Image
from skimage import data

import client_floor_env  # scripts/, on sys.path by this directory's conftest

TRANSPORTS = ("http", "grpc")

PROBE = '''
import hashlib

from convlens_client import Client


def connect(host, ports, key_file, transport):
    """A client of the test server."""
    return Client(host, transport=transport, http_port=ports["http"], grpc_port=ports["grpc"],
                  management_port=ports["management"], grpc_management_port=ports["grpc_management"],
                  key_file=key_file, timeout=120)


def probe(client, image):
    """Classes, a heatmap, the styles on offer and two pictures, JSON-ready (pictures as sha256)."""
    styles = client.styles()
    single = next(s["name"] for s in styles if s["kind"] == "single")
    stylized = client.stylize(image, style=single, max_size=64)
    return {
        "classify": [p.to_dict() for p in client.classify(image, topk=5)],
        "saliency": client.saliency(image, size=64).to_dict(),
        "saliency_png": hashlib.sha256(client.saliency_image(image, size=64)).hexdigest(),
        "styles": styles,
        "stylize": [stylized.model, stylized.styles, stylized.weights, stylized.width, stylized.height,
                    stylized.format, hashlib.sha256(stylized.data).hexdigest()],
    }
'''

RUN_PROBE = '''
import json, sys
import convlens_client
host, ports, key_file, image = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {"python": "%d.%d" % sys.version_info[:2], "client": convlens_client.__file__, "prefix": sys.prefix}
for transport in ("http", "grpc"):
    with connect(host, ports, key_file, transport) as client:
        out[transport] = probe(client, image)
print(json.dumps(out))
'''


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(data.chelsea()[::2, ::2]).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def floor_python():
    python = client_floor_env.find_oldest_python()
    if python is None:
        pytest.skip("no Python {}.{} here (pyenv, PATH or ${})".format(*client_floor_env.OLDEST_PYTHON,
                                                                       client_floor_env.ENV_VAR))
    return client_floor_env.floor_env(python)


@pytest.mark.timeout(900)
def test_oldest_python_client_matches_this_client_on_both_transports(server, floor_python, tmp_path):
    image = tmp_path / "cat.jpg"
    image.write_bytes(_jpeg())
    done = subprocess.run(
        [str(floor_python), "-c", PROBE + RUN_PROBE, server.host, json.dumps(server.ports), str(server.key_file),
         str(image)],
        capture_output=True, text=True, timeout=600, env=client_floor_env.clean_env(), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    old = json.loads(done.stdout)
    assert old["python"] == "{}.{}".format(*client_floor_env.OLDEST_PYTHON)
    assert old["client"].startswith(old["prefix"])  # the copy installed in the floor venv

    namespace: dict = {}
    exec(PROBE, namespace)  # noqa: S102 - the very same calls, here
    for transport in TRANSPORTS:
        with namespace["connect"](server.host, server.ports, server.key_file, transport) as c:
            ours = json.loads(json.dumps(namespace["probe"](c, str(image))))
        assert ours["classify"][0]["index"] in range(281, 286)  # a cat, so the comparison means something
        assert old[transport] == ours, transport
    assert old["http"]["saliency"] == old["grpc"]["saliency"]
