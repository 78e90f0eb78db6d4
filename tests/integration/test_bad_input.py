"""The hostile-input corpus through the real server: every bad request gets its documented 4xx naming the field,
every merely unusual one a correct result, and afterwards the same workers serve with memory near its baseline.

Every endpoint the specs declare is covered, each from its declaration (`endpoint_case`): its required image fields
get the corpus, the other fields the fast valid values of its benchmark request (benchmarks/workload.py, itself its
spec's example request), each numeric field the bad-number corpus, each choice, class, name or flag field an
unknown value. SPECIAL says only what the spec cannot: how to read a result (top class, output size), whether the
output keeps the photo's orientation, fields an unknown name needs alongside, other valid values.
"""
from __future__ import annotations

import base64
import io
import json
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import psutil
import pytest
import requests
from PIL import Image

from convlens_client._proto import inference_pb2, inference_pb2_grpc
from convlens_client.inputs import ImageFile
from hostile_inputs import BAD_IMAGES, CAT_CLASSES, CAT_JPEG, UNUSUAL_IMAGES, Case, png_bomb
from serving.spec import EndpointSpec
from serving.specs import IMAGE_KINDS, SPECS
from serving.synthesis import MIN_SIDE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import workload  # noqa: E402 - after the sys.path set-up above


class Outcome(NamedTuple):
    """What a successful response says: the top class (when the endpoint classifies) and the output size."""

    top_class: int | None = None
    size: tuple[int, int] | None = None


def classify_outcome(response: requests.Response) -> Outcome:
    return Outcome(top_class=response.json()["predictions"][0]["index"])


def saliency_outcome(response: requests.Response) -> Outcome:
    body = response.json()
    return Outcome(top_class=body["predicted"]["index"], size=(body["width"], body["height"]))


def picture_outcome(response: requests.Response) -> Outcome:
    """For endpoints answering a PNG/JPEG picture (most of the new ones)."""
    return Outcome(size=Image.open(io.BytesIO(response.content)).size)


@dataclass(frozen=True)
class Endpoint:
    name: str
    images: tuple[str, ...] = ("image",)  # image fields; the corpus goes into each, the others get a valid photo
    valid: dict[str, str] = field(default_factory=dict)  # fast valid values of the other fields
    numbers: tuple[str, ...] = ()  # numeric fields: each gets BAD_NUMBERS
    names: dict[str, str] = field(default_factory=dict)  # field -> an unknown name it must refuse
    with_names: dict[str, dict[str, str | None]] = field(default_factory=dict)  # field -> fields it needs alongside
    required: tuple[str, ...] = ()  # required fields besides the images
    outcome: Callable[[requests.Response], Outcome] = picture_outcome
    photo_is_landscape: bool = True  # does the output keep the input's orientation (EXIF check)?
    more_images: tuple[str, ...] = ()  # numbered images a valid request needs besides `images` (a valid photo each)
    min_side: int = 1  # a smaller image (the one-pixel one) is a 400 naming its field, not a result


NOT_THE_PHOTOS_SHAPE = dict(photo_is_landscape=False)  # grids, thumbnails, layouts, squares
SPECIAL: dict[str, dict[str, Any]] = {  # what the spec cannot say (Endpoint's fields, over endpoint_case's)
    "classify": dict(outcome=classify_outcome, photo_is_landscape=False),
    "saliency": dict(valid={"format": "json"}, outcome=saliency_outcome,
                     with_names={"layer": {"channel": "0"}}),  # a neuron is a layer and a channel
    "classviz": dict(with_names={"layer": {"channel": "0", "target": None}}),  # a neuron instead of a class
    "deepdream": dict(min_side=MIN_SIDE),  # serving/synthesis.py: too small for the network's strides
    "texture": dict(min_side=MIN_SIDE, photo_is_landscape=False),
    **{name: NOT_THE_PHOTOS_SHAPE for name in ("activations", "top_patches", "embed", "neighbors", "tsne")},
}
UNKNOWN = {"target": "flying spaghetti monster", "backbone": "resnet9000", "layer": "block99", "layers": "block99",
           "style": "no_such_style", "blend": "nope:1", "format": "gif", "method": "telepathy",
           "colormap": "rainbow", "view": "xray", "fill": "glitter"}  # else "no_such_<field>", flags "maybe"
NAMED_KINDS = ("choice", "target", "text", "layers", "blend", "flag")


def read(spec: EndpointSpec, name: str, valid: dict[str, str]) -> bool:
    """Whether the parser reads field `name` of a request with `valid` (not one with a condition left unmet)."""
    f = spec.field(name)
    if f.when is not None:
        return False
    if f.only is None:
        return True
    other = spec.by_attr(f.only[0])
    return valid.get(other.name, other.default) in f.only[1]


def endpoint_case(name: str) -> Endpoint:
    """The endpoint's hostile-input case from its spec, its benchmark request and SPECIAL."""
    spec, special = SPECS[name], SPECIAL.get(name, {})
    request = workload.fields(name, 64)
    valid = {k: v for k, v in request.items() if not isinstance(v, ImageFile)}
    valid.update(special.get("valid", {}))
    declared = {f.name: f for f in spec.fields}
    images = tuple(k for k in request if isinstance(request[k], ImageFile) and k in declared)
    more = tuple(k for k in request if isinstance(request[k], ImageFile) and k not in declared)
    fields = [f for f in spec.fields if f.kind.name not in IMAGE_KINDS and read(spec, f.name, valid)]
    numbers = tuple(f.name for f in fields if f.kind.name in ("int", "float"))
    names = {f.name: UNKNOWN.get(f.name, "maybe" if f.kind.name == "flag" else f"no_such_{f.name}")
             for f in fields if f.kind.name in NAMED_KINDS}
    required = tuple(f.name for f in fields if f.required or f.example is not None)
    return Endpoint(name, images, valid, numbers, names, required=required, more_images=more,
                    **{k: v for k, v in special.items() if k != "valid"})


ENDPOINTS = [endpoint_case(name) for name in sorted(SPECS)]
WITH_IMAGES = [e for e in ENDPOINTS if e.images]


def test_special_cases_name_declared_endpoints_and_fields():
    """No server needed: SPECIAL's endpoints exist and the fields it names are theirs."""
    assert set(SPECIAL) <= set(SPECS)
    for name, special in SPECIAL.items():
        declared = {f.name for f in SPECS[name].fields}
        named = {*special.get("valid", {}), *special.get("with_names", {})}
        named |= {k for extra in special.get("with_names", {}).values() for k in extra}
        assert named <= declared, name


BAD_NUMBERS = ["-7", "99999999999999999999", "1e400", "nan", "inf", "-inf", "twelve", "0x10", "1_0", "١٢"]
BAD_JSON_VALUES = [[1], {"value": 1}, True]  # wrong JSON types for a scalar field
IDS = [e.name for e in ENDPOINTS]
IMAGE_IDS = [e.name for e in WITH_IMAGES]


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.key('inference')}"}


def post_form(server, endpoint: Endpoint, images: dict[str, tuple[str, bytes]], data: dict[str, str | None],
              ) -> requests.Response:
    """A multipart form: the images (a valid photo where `images` has none), the fields (None: left out)."""
    files: dict[str, tuple[str | None, bytes | str]] = {
        name: images.get(name, ("cat.jpg", CAT_JPEG)) for name in (*endpoint.images, *endpoint.more_images)}
    files.update({name: (None, value) for name, value in data.items() if value is not None})
    return requests.post(server.url(f"/predictions/{endpoint.name}"), files=files or None,
                         headers=auth(server), timeout=120)


def post_json(server, endpoint: Endpoint, body: Any) -> requests.Response:
    return requests.post(server.url(f"/predictions/{endpoint.name}"), data=json.dumps(body),
                         headers={**auth(server), "Content-Type": "application/json"}, timeout=120)


def assert_error(response: requests.Response, code: int, field_name: str | None, type_: str | None = None) -> None:
    assert response.status_code == code, response.text[:300]
    body = response.json()
    assert body["code"] == code and body["message"], body
    assert body["field"] == field_name, body
    if type_:
        assert body["type"] == type_, body


def worker_rss(server) -> dict[int, int]:
    return {pid: psutil.Process(pid).memory_info().rss for e in ENDPOINTS for pid in server.worker_pids(e.name)}


@pytest.fixture(scope="module")
def baseline(server):
    """Worker pids and RSS after a warm-up (first requests allocate caches that stay)."""
    for endpoint in ENDPOINTS:
        for _ in range(3):
            response = post_form(server, endpoint, {}, endpoint.valid)
            assert response.status_code == 200, (endpoint.name, response.text[:300])
    return {e.name: server.worker_pids(e.name) for e in ENDPOINTS}, worker_rss(server)


# --- images -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", WITH_IMAGES, ids=IMAGE_IDS)
@pytest.mark.parametrize("case", BAD_IMAGES, ids=[c.name for c in BAD_IMAGES])
def test_bad_images_get_their_4xx_naming_the_field(server, baseline, endpoint, case: Case):
    payload = case.make()
    for image_field in endpoint.images:
        response = post_form(server, endpoint, {image_field: (case.filename, payload)}, endpoint.valid)
        assert_error(response, case.code, image_field, case.type)


@pytest.mark.parametrize("endpoint", WITH_IMAGES, ids=IMAGE_IDS)
@pytest.mark.parametrize("case", UNUSUAL_IMAGES, ids=[c.name for c in UNUSUAL_IMAGES])
def test_unusual_images_give_correct_results(server, baseline, endpoint, case: Case):
    payload = case.make()
    for image_field in endpoint.images:
        response = post_form(server, endpoint, {image_field: (case.filename, payload)}, endpoint.valid)
        if case.name == "one_pixel" and endpoint.min_side > 1:
            assert_error(response, 400, image_field, "InvalidParameter")
            continue
        assert response.status_code == 200, response.text[:300]
        outcome = endpoint.outcome(response)
        if case.name != "one_pixel" and outcome.top_class is not None:
            assert outcome.top_class in CAT_CLASSES, (case.name, outcome)  # a CMYK cat is still a cat
        if case.name == "exif_rotated_jpeg" and endpoint.photo_is_landscape:
            # stored 300x451 with Orientation=6: upright is the 451x300 landscape photo
            width, height = outcome.size
            assert width > height, outcome


def photos_base64(endpoint: Endpoint) -> dict[str, str]:
    """A valid photo in every image field of a JSON body."""
    return {f: base64.b64encode(CAT_JPEG).decode() for f in (*endpoint.images, *endpoint.more_images)}


def test_json_bodies_with_base64_images(server, baseline):
    for endpoint in WITH_IMAGES:
        for case in BAD_IMAGES[1:6]:  # base64 in a JSON body goes through the same decoder
            body = {**endpoint.valid, **photos_base64(endpoint)}
            body[endpoint.images[0]] = base64.b64encode(case.make()).decode()
            assert_error(post_json(server, endpoint, body), case.code, endpoint.images[0], case.type)
        body = {**endpoint.valid, endpoint.images[0]: "this is not base64 !!"}
        assert_error(post_json(server, endpoint, body), 400, endpoint.images[0], "InvalidParameter")
        for wrong in (123, [1, 2], {"bytes": "AAAA"}):
            body = {**endpoint.valid, endpoint.images[0]: wrong}
            assert_error(post_json(server, endpoint, body), 400, endpoint.images[0], "InvalidParameter")


# --- fields -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_bad_numbers_name_their_field(server, baseline, endpoint):
    for name in endpoint.numbers:
        for value in BAD_NUMBERS:
            response = post_form(server, endpoint, {}, {**endpoint.valid, name: value})
            assert_error(response, 400, name, "InvalidParameter")
        images = photos_base64(endpoint)
        for value in [*BAD_JSON_VALUES, float("nan"), float("inf"), -1e308, 2**70]:
            response = post_json(server, endpoint, {**endpoint.valid, **images, name: value})
            assert_error(response, 400, name, "InvalidParameter")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_unknown_names_are_refused(server, baseline, endpoint):
    for name, value in endpoint.names.items():
        response = post_form(server, endpoint, {}, {**endpoint.valid, **endpoint.with_names.get(name, {}), name: value})
        assert_error(response, 400, name, "InvalidParameter")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_unknown_fields_wrong_shapes_and_empty_bodies(server, baseline, endpoint):
    assert_error(post_form(server, endpoint, {}, {**endpoint.valid, "tagret": "1"}), 400, "tagret",
                 "InvalidParameter")
    assert_error(post_form(server, endpoint, {}, {**endpoint.valid, "x" * 300: "1"}), 400, "x" * 300)
    long_text = {name: "a" * 1000 for name in list(endpoint.names)[:1]}
    for name in long_text:
        assert_error(post_form(server, endpoint, {}, {**endpoint.valid, **long_text}), 400, name)
    url = server.url(f"/predictions/{endpoint.name}")
    empty = requests.post(url, headers=auth(server), timeout=60)
    first_required = (*endpoint.images, *endpoint.required)[:1]
    if first_required:
        assert_error(empty, 400, first_required[0], "InvalidParameter")
    else:  # every field has a default (filters): an empty body is a valid request
        assert empty.status_code == 200, empty.text[:300]
    as_list = requests.post(url, data=b"[1, 2, 3]", timeout=60,
                            headers={**auth(server), "Content-Type": "application/json"})
    assert_error(as_list, 400, "body", "InvalidParameter")
    broken_json = requests.post(url, data=b'{"image": ', timeout=60,
                                headers={**auth(server), "Content-Type": "application/json"})
    # a broken JSON body arrives as a raw upload: refused for the image, or first for another required field
    # (another image: style_transfer reads the raw upload as its `content`, then misses `style`)
    assert 400 <= broken_json.status_code < 500 and broken_json.json()["field"] in (
        *endpoint.images, "body", *endpoint.required)


def test_a_request_over_the_servers_size_limit_is_413(server, baseline):
    """Past max_request_size (48 MiB) TorchServe's frontend answers 413 itself, before any worker sees it."""
    response = requests.post(server.url("/predictions/classify"), headers=auth(server), timeout=120,
                             files={"image": ("big.png", bytes(50 * 1024 * 1024))})
    assert response.status_code == 413


# --- gRPC: a representative subset ------------------------------------------------------------------------------

GRPC_CASES = [  # (endpoint, fields, expected code, field)
    ("classify", {"image": CAT_JPEG[:4000]}, 400, "image"),
    ("classify", {"image": b"not a picture"}, 400, "image"),
    ("classify", {"image": png_bomb(30_000, 30_000)}, 413, "image"),
    ("classify", {"image": pickle.dumps(object())}, 400, "image"),
    ("classify", {"image": CAT_JPEG, "topk": b"nan"}, 400, "topk"),
    ("classify", {"image": CAT_JPEG, "topk": b"\xff\xfe"}, 400, "topk"),
    ("classify", {"image": CAT_JPEG, "tagret": b"1"}, 400, "tagret"),
    ("classify", {"image": b""}, 400, "image"),
    ("saliency", {"image": CAT_JPEG, "method": b"\xff"}, 400, "method"),
    ("saliency", {"image": CAT_JPEG, "target": b"99999"}, 400, "target"),
    ("saliency", {"image": CAT_JPEG, "size": b"-inf"}, 400, "size"),
]


def grpc_stub(server):
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}",
                                    options=[("grpc.max_send_message_length", 64 << 20)])
    return channel, inference_pb2_grpc.InferenceAPIsServiceStub(channel)


def test_grpc_subset(server, baseline):
    channel, stub = grpc_stub(server)
    metadata = [("authorization", f"Bearer {server.key('inference')}")]
    try:
        for model, fields, code, field_name in GRPC_CASES:
            reply = stub.Predictions(inference_pb2.PredictionsRequest(model_name=model, input=fields),
                                     metadata=metadata, timeout=60)
            body = json.loads(reply.prediction)  # TorchServe's gRPC drops the status; the body carries it
            assert (body["code"], body["field"]) == (code, field_name), (model, body)
        for case in UNUSUAL_IMAGES[1:3]:  # CMYK and 16-bit photos are photos over gRPC too
            reply = stub.Predictions(inference_pb2.PredictionsRequest(
                model_name="classify", input={"image": case.make(), "topk": b"1"}), metadata=metadata, timeout=60)
            assert json.loads(reply.prediction)["predictions"][0]["index"] in CAT_CLASSES
    finally:
        channel.close()


# --- after the corpus ---------------------------------------------------------------------------------------------

def test_zz_same_workers_and_memory_near_baseline(server, baseline):
    """Runs last in this module: no worker restarted, and no worker's RSS grew much past its warm baseline."""
    pids_before, rss_before = baseline
    for endpoint in ENDPOINTS:
        assert server.worker_pids(endpoint.name) == pids_before[endpoint.name], endpoint.name
        assert post_form(server, endpoint, {}, endpoint.valid).status_code == 200
    rss_after = worker_rss(server)
    report = {pid: f"{rss_before[pid] / 2**20:.0f} -> {rss_after[pid] / 2**20:.0f} MiB" for pid in rss_before}
    print(f"\nworker RSS before/after the corpus: {report}")
    for pid, before in rss_before.items():
        # the corpus passes 35-50 MiB uploads through the worker; allow 15% or 96 MiB, whichever is larger
        assert rss_after[pid] <= before + max(0.15 * before, 96 * 2**20), report
