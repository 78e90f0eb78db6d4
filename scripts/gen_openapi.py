#!/usr/bin/env python3
"""Generate, from the endpoint specs (handlers/serving/specs/), the documents that describe the request fields.

* ``docs/openapi.json``: an OpenAPI 3.1 document of the HTTP inference API: ``POST /predictions/<endpoint>`` for
  every endpoint (and ``/explanations/classify``), request bodies as multipart/form-data, JSON and (where the
  image may come alone) a raw upload, the 200 content types each ``format`` gives, the error answers
  400/413/500/503/507 with the error schema ``{code, type, message, field}``, and bearer-token security;
* the fields table of every endpoint in ``docs/api/<area>.md``, between ``<!-- fields:<endpoint> -->`` and
  ``<!-- /fields -->`` (the prose around them is left alone);
* ``client/convlens_client/cli/fields.json``: endpoint -> field -> type, default, bounds, choices, help (and
  ``required`` when set), shipped in the client package so that the ``convlens`` CLI builds its options from the
  declaration without importing server code.

Usage::

    python scripts/gen_openapi.py            # rewrite docs/openapi.json, the tables, fields.json (make openapi)
    python scripts/gen_openapi.py --check    # exit 1, naming what is out of date with the specs
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from build_models import VERSION  # noqa: E402
from serving.encode import CONTENT_TYPES
from serving.progress import STREAM_CONTENT_TYPE  # noqa: E402
from serving.spec import EndpointSpec  # noqa: E402
from serving.specs import SPECS  # noqa: E402

OPENAPI = ROOT / "docs" / "openapi.json"
PAGES = ROOT / "docs" / "api"
CLI_FIELDS = ROOT / "client" / "convlens_client" / "cli" / "fields.json"
CLI_KEYS = ("type", "required", "default", "choices", "minimum", "maximum", "help")  # what the CLI's options use
TABLE = re.compile(r"(<!-- fields:(\w+) -->\n)(.*?)(<!-- /fields -->)", re.S)
NUMBERED = "_([2-9]|[1-9][0-9]{1,3})$"  # image_2 ... image_9999 (image_1 is refused: the first one is `image`)
ERRORS = {
    "400": "invalid input (InvalidParameter, InvalidImage), or a missing or expired token (InvalidKeyException)",
    "413": "an input over a limit, or a request that ran out of its time budget (TooLarge, TimeLimitExceeded)",
    "500": "an unexpected failure in the worker (InternalError)",
    "503": "the endpoint's queue is full (ServiceUnavailableException, from TorchServe): retry later",
    "507": "out of memory while processing this request (OutOfMemory): try a smaller input",
}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}


def property_schema(spec: EndpointSpec, exported: dict[str, Any], form: bool) -> dict[str, Any]:
    """JSON Schema of one field from its kind and its exported description (bounds, choices, default, help)."""
    kind = spec.field(exported["name"]).kind
    schema: dict[str, Any] = {**((kind.form if form else None) or kind.schema), "description": exported["help"]}
    schema["x-convlens-type"] = exported["type"]
    if "default" in exported:
        schema["default"] = exported["default"]
    for key in ("minimum", "maximum"):
        if key in exported:
            schema[key] = exported[key]
        if f"{key}_by" in exported:
            schema[f"x-convlens-{key}-by"] = exported[f"{key}_by"]
    if "choices" in exported:
        schema["enum"] = exported["choices"]
    if "also_true" in exported:
        schema["anyOf"] = [schema["anyOf"][0], {**schema["anyOf"][1],
                                                "enum": schema["anyOf"][1]["enum"] + exported["also_true"]}]
    if "example" in exported:
        schema["examples"] = [exported["example"]]
    if exported.get("numbered"):
        schema["x-convlens-images"] = {"min": exported.get("min_images", 1), "max": exported["max_images"],
                                       **({"min_by": exported["min_images_by"]} if "min_images_by" in exported
                                          else {})}
    if "only" in exported:
        (other, values), = exported["only"].items()
        schema["description"] += f" (only with {other} {' or '.join(values)})"
        schema["x-convlens-only"] = exported["only"]
    return schema


def request_schema(spec: EndpointSpec, form: bool) -> dict[str, Any]:
    """The request object of one endpoint: its fields (aliases and numbered images too); unknown fields refused."""
    properties: dict[str, Any] = {}
    pattern: dict[str, Any] = {}
    required: list[str] = []
    alternatives: list[dict[str, Any]] = []
    for exported in spec.as_json()["fields"]:
        name, schema = exported["name"], property_schema(spec, exported, form)
        properties[name] = schema
        names = [name, *exported.get("aliases", [])]
        for alias in exported.get("aliases", []):
            properties[alias] = {**schema, "description": f"the same as `{name}`", "x-convlens-of": name}
        if exported.get("numbered"):
            more = {**schema, "description": f"more images: `{name}_2`, `{name}_3`, ...", "x-convlens-of": name}
            if "zip" in exported:
                pattern[f"^{name}{NUMBERED}"] = more
                properties[exported["zip"]] = {**schema, "description": "a zip of images (its members count too)",
                                               "x-convlens-of": name}
                names.append(exported["zip"])
            else:
                properties.update({f"{name}_{i}": more for i in range(2, exported["max_images"] + 1)})
        if exported["required"]:
            if len(names) == 1:
                required.append(name)
            else:
                alternatives.append({"anyOf": [{"required": [n]} for n in names]})
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if pattern:
        out["patternProperties"] = pattern
    if required:
        out["required"] = required
    if alternatives:
        out["allOf"] = alternatives
    return out


def results(spec: EndpointSpec) -> dict[str, Any]:
    """The 200 answer: one content type per `format` (plus the progress stream where there is one)."""
    content: dict[str, Any] = {}
    formats = spec.field("format")
    for fmt in formats.choices:
        media = CONTENT_TYPES[fmt]
        content[media] = {"schema": {"type": "object"} if fmt == "json" else
                          {"type": "string", "contentMediaType": media},
                          "x-convlens-format": fmt}
    if any(f.name == "progress" for f in spec.fields):
        content[STREAM_CONTENT_TYPE] = {"schema": {"type": "string", "contentMediaType": STREAM_CONTENT_TYPE},
                                        "x-convlens-format": "progress=true: JSON event lines, then the result"}
    return {"description": f"the result, as `format` asks (default {formats.default})", "content": content}


def operation(spec: EndpointSpec, summary: str) -> dict[str, Any]:
    """POST of one endpoint's fields: request bodies, the result and the errors."""
    content = {"multipart/form-data": {"schema": {"$ref": f"#/components/schemas/{spec.name}_form"}},
               "application/json": {"schema": {"$ref": f"#/components/schemas/{spec.name}"}}}
    if any("body" in f.aliases for f in spec.fields):
        content["application/octet-stream"] = {"schema": {**BINARY, "description": "a raw image upload; every "
                                                          "other field takes its default"}}
    responses = {"200": results(spec), **{code: {"$ref": f"#/components/responses/{code}"} for code in ERRORS}}
    return {"operationId": spec.name if summary == spec.summary else f"explain_{spec.name}",
            "summary": summary, "tags": [spec.params.__module__.rsplit(".", 1)[-1]],
            "requestBody": {"required": True, "content": content}, "responses": responses}


def openapi() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    error = {"type": "object", "required": ["code", "type", "message"], "properties": {
        "code": {"type": "integer", "description": "the HTTP status"},
        "type": {"type": "string", "examples": ["InvalidParameter"]},
        "message": {"type": "string", "examples": ["must be between 1 and 100, got 0"]},
        "field": {"type": ["string", "null"], "description": "the request field at fault"}}}
    paths = {f"/predictions/{name}": {"post": operation(SPECS[name], SPECS[name].summary)} for name in sorted(SPECS)}
    paths["/explanations/classify"] = {"post": operation(SPECS["saliency"], "TorchServe's explanations route on "
                                                         "`classify`: the saliency fields and answer")}
    schemas: dict[str, Any] = {"Error": error}
    for name in sorted(SPECS):
        schemas[name] = request_schema(SPECS[name], form=False)
        schemas[f"{name}_form"] = request_schema(SPECS[name], form=True)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ConvLens", "version": VERSION,
                 "description": "Seeing inside CNNs, served by TorchServe. Generated by scripts/gen_openapi.py "
                                "from handlers/serving/specs/; fields may also be sent over gRPC (the same names "
                                "in the `input` map). An endpoint's live description (layers, limits, fields): "
                                "GET /models/<endpoint>?customized=true on the management port."},
        "servers": [{"url": "http://127.0.0.1:8080", "description": "make serve"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the inference key of key_file.json"}},
            "schemas": schemas,
            "responses": {code: {"description": text, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                CONTENT_TYPES["proto"]: {"schema": {**BINARY, "description": "format=proto: a convlens.v1."
                                                    "Response with `error` set"}}}} for code, text in ERRORS.items()},
        },
    }


def number(value: float) -> str:
    """A bound as people read it: integers whole, floats short (1e-05, 0.5, 1e+06)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def code(value: Any) -> str:
    """A value as a client sends it, in a Markdown code span."""
    return f"`{json.dumps(value) if isinstance(value, bool) else value}`"


def table(spec: EndpointSpec) -> str:
    """The Markdown fields table of one endpoint: field, type, default, allowed values, meaning."""
    rows = ["| field | type | default | values | meaning |", "|---|---|---|---|---|"]
    for f in spec.as_json()["fields"]:
        name = code(f["name"])
        values = []
        if f.get("numbered"):
            name += f", `{f['name']}_2`, ..." + (f" or `{f['zip']}`" if "zip" in f else "")
            values.append(f"{f.get('min_images', 1)}..{f['max_images']} images")
        elif "minimum" in f:
            values.append(f"{number(f['minimum'])}..{number(f['maximum'])}")
        if "choices" in f:
            values.append(", ".join(code(c) for c in f["choices"]))
        if "also_true" in f:
            values.append("true, false, " + ", ".join(code(c) for c in f["also_true"]))
        if "aliases" in f:
            values.append("also " + ", ".join(code(a) for a in f["aliases"]))
        for other, allowed in f.get("only", {}).items():
            values.append(f"only with `{other}` " + " or ".join(code(v) for v in allowed))
        default = "required" if f["required"] else code(f["default"]) if "default" in f else "—"
        rows.append(f"| {name} | {f['type']} | {default} | {'; '.join(values) or '—'} | {f['help']} |")
    return "\n".join(rows) + "\n"


def with_tables(text: str) -> str:
    """A docs page with every marked fields table regenerated."""
    return TABLE.sub(lambda m: m.group(1) + table(SPECS[m.group(2)]) + m.group(4), text)


def cli_fields() -> dict[str, dict[str, dict[str, Any]]]:
    """The client's table, endpoint -> field -> CLI_KEYS that the field has (`required` only when true): the CLI
    takes its options' type, choices, default and help from it."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name in sorted(SPECS):
        table[name] = {}
        for f in SPECS[name].as_json()["fields"]:
            table[name][f["name"]] = {key: f[key] for key in CLI_KEYS if key in f and (key != "required" or f[key])}
    return table


def cli_fields_text() -> str:
    """The client's table as JSON, one field a line (small, and a spec change is a one-line diff)."""
    def line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    endpoints = [f" {line(name)}: {{\n" + ",\n".join(f"  {line(field)}: {line(info)}" for field, info in fields.items())
                 + "\n }" for name, fields in cli_fields().items()]
    return "{\n" + ",\n".join(endpoints) + "\n}\n"


def outputs() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {OPENAPI: json.dumps(openapi(), indent=1, ensure_ascii=False) + "\n",
             CLI_FIELDS: cli_fields_text()}
    for page in sorted(PAGES.glob("*.md")):
        files[page] = with_tables(page.read_text())
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say what is out of date (exit 1 if any)")
    args = parser.parse_args()
    files = outputs()
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date with the specs: {path.relative_to(ROOT)} (run make openapi)")
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
