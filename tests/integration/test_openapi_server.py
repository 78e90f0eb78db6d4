"""docs/openapi.json against the real server: every endpoint's describe answer lists the fields the document
declares (names, types, defaults, bounds, choices, required), and one request per endpoint built from the
document alone (its defaults, its examples, a photo per required image field) is accepted, or answers one of the
errors the document lists (not a 400), in its error schema."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from hostile_inputs import CAT_JPEG

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
ENDPOINTS = sorted(path.rsplit("/", 1)[1] for path in DOCUMENT["paths"] if path.startswith("/predictions/"))


def fields_of(endpoint: str) -> dict[str, dict[str, Any]]:
    """The document's own fields of an endpoint (aliases, numbered images and `zip` left out)."""
    properties = SCHEMAS[endpoint]["properties"]
    return {name: p for name, p in properties.items() if "x-convlens-of" not in p}


def required_in_document(endpoint: str) -> set[str]:
    schema = SCHEMAS[endpoint]
    alternatives = [a["anyOf"][0]["required"][0] for a in schema.get("allOf", [])]
    return set(schema.get("required", [])) | set(alternatives)


def described(server, endpoint: str) -> dict[str, Any]:
    answer = requests.get(server.url(f"/models/{endpoint}?customized=true", "management"), timeout=30,
                          headers={"Authorization": f"Bearer {server.key('management')}"})
    assert answer.status_code == 200, answer.text
    metadata = answer.json()[0]["customizedMetadata"]
    return json.loads(metadata) if isinstance(metadata, str) else metadata


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_describe_agrees_with_the_document(server, endpoint):
    fields = described(server, endpoint)["fields"]
    documented = fields_of(endpoint)
    assert [f["name"] for f in fields] == list(documented)
    assert {f["name"] for f in fields if f["required"]} == required_in_document(endpoint)
    for f in fields:
        prop = documented[f["name"]]
        assert prop["x-convlens-type"] == f["type"] and prop["description"].startswith(f["help"]), f
        assert prop.get("default") == f.get("default"), f
        assert (prop.get("minimum"), prop.get("maximum")) == (f.get("minimum"), f.get("maximum")), f
        assert prop.get("enum") == f.get("choices"), f


def request_from_document(endpoint: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """(form fields, files): every documented default and example, and a photo per required image."""
    data, files = {}, {}
    required = required_in_document(endpoint)
    for name, prop in fields_of(endpoint).items():
        if prop["x-convlens-type"] in ("image", "images"):
            if name in required:
                count = prop.get("x-convlens-images", {}).get("min", 1)
                for other, table in prop.get("x-convlens-images", {}).get("min_by", {}).items():
                    count = table[data.get(other, fields_of(endpoint)[other].get("default"))]
                for i in range(1, count + 1):
                    files[name if i == 1 else f"{name}_{i}"] = (f"cat{i}.jpg", CAT_JPEG, "image/jpeg")
            continue
        value = prop["examples"][0] if "examples" in prop else prop.get("default")
        other, allowed = next(iter(prop.get("x-convlens-only", {None: None}).items()))
        if other is not None and data.get(other, fields_of(endpoint)[other].get("default")) not in allowed:
            continue  # e.g. a saliency method's own option, with another method
        if value is not None:
            data[name] = json.dumps(value) if isinstance(value, bool) else str(value)
    return data, files


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_a_request_from_the_document_is_accepted_or_a_documented_error(server, path):
    operation = DOCUMENT["paths"][path]["post"]
    endpoint = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    data, files = request_from_document(endpoint)
    answer = requests.post(server.url(path), data=data, files=files, timeout=180,
                           headers={"Authorization": f"Bearer {server.key('inference')}"})
    media = answer.headers["Content-Type"].split(";")[0]
    documented = operation["responses"]
    if answer.status_code == 200:
        assert media in documented["200"]["content"], media
        assert answer.content
        return
    # the document's defaults and examples make a valid request: no 400; a busy or slow server may still answer
    # one of its other documented errors (the time budget's 413, a full queue's 503, out of memory's 507)
    assert answer.status_code != 400 and str(answer.status_code) in documented, (answer.status_code, answer.text)
    error = answer.json()
    Draft202012Validator(SCHEMAS["Error"]).validate(error)
    named = error["field"]
    assert error["code"] == answer.status_code and (named is None or any(
        named == name or named.startswith(f"{name}_") for name in SCHEMAS[endpoint]["properties"])), error
