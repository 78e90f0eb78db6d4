"""The generated documents agree with the endpoint specs: docs/openapi.json, the fields tables in docs/api/ and the
CLI's fields.json are up to date (`make openapi` rewrites them), and what the document allows the parser accepts, and
the reverse."""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from convlens.core.errors import ConvLensError
from convlens_client.cli.fields import declared
from serving.specs import SPECS, parse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_openapi  # noqa: E402

DOCUMENT = gen_openapi.openapi()
CONDITIONAL = {("saliency", "channel")}  # read only with `layer`
IMAGE = base64.b64encode(b"\x89PNG not decoded by the parser").decode()


def test_generated_files_are_up_to_date():
    stale = [str(path.relative_to(ROOT)) for path, text in gen_openapi.outputs().items() if path.read_text() != text]
    assert not stale, f"out of date with handlers/serving/specs/: {stale}; run `make openapi`"


def test_the_cli_reads_every_declared_field_as_generated():
    assert declared() == gen_openapi.cli_fields()
    assert {name: list(fields) for name, fields in declared().items()} == \
        {name: [f.name for f in spec.fields] for name, spec in sorted(SPECS.items())}


def test_every_endpoint_has_one_fields_table_in_the_docs():
    marked = [m.group(2) for page in sorted(gen_openapi.PAGES.glob("*.md"))
              for m in gen_openapi.TABLE.finditer(page.read_text())]
    assert sorted(marked) == sorted(SPECS)


def test_document_covers_every_endpoint_with_its_errors_and_security():
    assert DOCUMENT["openapi"].startswith("3.1") and DOCUMENT["security"] == [{"bearer": []}]
    for name, spec in SPECS.items():
        post = DOCUMENT["paths"][f"/predictions/{name}"]["post"]
        assert set(post["responses"]) == {"200", "400", "413", "500", "503", "507"}
        formats = {media["x-convlens-format"] for media in post["responses"]["200"]["content"].values()}
        assert set(spec.choices("format")) <= formats
        assert set(post["requestBody"]["content"]) >= {"multipart/form-data", "application/json"}
    error = DOCUMENT["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "type", "message", "field"}


def example_request(name: str) -> dict:
    """Defaults of every field with one, examples where given, an image for each required image field."""
    request = {}
    for f in SPECS[name].as_json()["fields"]:
        if f["type"] in ("image", "images"):
            if f["required"]:
                request[f["name"]] = IMAGE
        elif "example" in f:
            request[f["name"]] = f["example"]
        elif "default" in f and "only" not in f:
            request[f["name"]] = f["default"]
    if name == "tsne":
        request.update(image_2=IMAGE, image_3=IMAGE)
    return request


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_documented_defaults_validate_and_parse(name):
    schema = DOCUMENT["components"]["schemas"][name]
    Draft202012Validator.check_schema(schema)
    Draft202012Validator.check_schema(DOCUMENT["components"]["schemas"][f"{name}_form"])
    request = example_request(name)
    Draft202012Validator(schema).validate(request)
    parse(name, request)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_out_of_range_values_fail_the_schema_and_the_parser(name):
    """Document and parser agree at every bound and choice (fields with conditions are left to the unit tests)."""
    validator = Draft202012Validator(DOCUMENT["components"]["schemas"][name])
    for f in SPECS[name].as_json()["fields"]:
        if "only" in f or "maximum_by" in f or f["type"] not in ("int", "float", "choice") or \
                (name, f["name"]) in CONDITIONAL:
            continue
        bad = ["not-a-choice"] if f["type"] == "choice" else [f["minimum"] - 1, f["maximum"] + 1]
        for value in bad:
            request = {**example_request(name), f["name"]: value}
            assert not validator.is_valid(request), (name, f["name"], value)
            with pytest.raises(ConvLensError) as err:
                parse(name, request)
            assert err.value.field == f["name"]
    assert not validator.is_valid({**example_request(name), "no_such_field": 1})
