"""The .proto files and their generated stubs: wire facts, freshness, and the client's version floors."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor as F

from convlens_client._proto import convlens_pb2, inference_pb2, management_pb2

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "scripts" / "gen_protos.py"
STUBS = ROOT / "client" / "convlens_client" / "_proto"


def _fields(message) -> dict[str, tuple[int, int]]:
    return {f.name: (f.number, f.type) for f in message.DESCRIPTOR.fields}


def test_inference_proto_wire_facts() -> None:
    fd = inference_pb2.DESCRIPTOR
    assert fd.package == "org.pytorch.serve.grpc.inference"
    assert [d.name for d in fd.dependencies] == ["google/protobuf/empty.proto", "google/rpc/status.proto"]
    req = inference_pb2.PredictionsRequest.DESCRIPTOR
    assert _fields(inference_pb2.PredictionsRequest) == {
        "model_name": (1, F.TYPE_STRING),
        "model_version": (2, F.TYPE_STRING),
        "input": (3, F.TYPE_MESSAGE),
        "sequence_id": (4, F.TYPE_STRING),
    }
    entry = req.fields_by_name["input"].message_type
    assert entry.GetOptions().map_entry
    assert entry.fields_by_name["key"].type == F.TYPE_STRING
    assert entry.fields_by_name["value"].type == F.TYPE_BYTES
    assert req.fields_by_name["sequence_id"].has_presence  # proto3 `optional`
    resp = inference_pb2.PredictionResponse.DESCRIPTOR
    assert _fields(inference_pb2.PredictionResponse) == {
        "prediction": (1, F.TYPE_BYTES),
        "sequence_id": (2, F.TYPE_STRING),
        "status": (3, F.TYPE_MESSAGE),
    }
    assert resp.fields_by_name["status"].message_type.full_name == "google.rpc.Status"
    assert _fields(inference_pb2.TorchServeHealthResponse) == {"health": (1, F.TYPE_STRING)}

    service = fd.services_by_name["InferenceAPIsService"]
    kinds = {
        m.name: (
            m.input_type.full_name.rsplit(".", 1)[-1],
            m.output_type.full_name.rsplit(".", 1)[-1],
            m.client_streaming,
            m.server_streaming,
        )
        for m in service.methods
    }
    assert kinds == {
        "Ping": ("Empty", "TorchServeHealthResponse", False, False),
        "Predictions": ("PredictionsRequest", "PredictionResponse", False, False),
        "StreamPredictions": ("PredictionsRequest", "PredictionResponse", False, True),
        "StreamPredictions2": ("PredictionsRequest", "PredictionResponse", True, True),
    }


def test_management_proto_wire_facts() -> None:
    fd = management_pb2.DESCRIPTOR
    assert fd.package == "org.pytorch.serve.grpc.management"
    assert _fields(management_pb2.ManagementResponse) == {"msg": (1, F.TYPE_STRING)}
    assert _fields(management_pb2.DescribeModelRequest) == {
        "model_name": (1, F.TYPE_STRING),
        "model_version": (2, F.TYPE_STRING),
        "customized": (3, F.TYPE_BOOL),
    }
    register = _fields(management_pb2.RegisterModelRequest)
    assert register["url"] == (9, F.TYPE_STRING) and register["s3_sse_kms"] == (10, F.TYPE_BOOL)
    assert register["startup_timeout"] == (11, F.TYPE_INT32) and len(register) == 11
    assert _fields(management_pb2.ScaleWorkerRequest)["number_gpu"] == (5, F.TYPE_INT32)
    methods = fd.services_by_name["ManagementAPIsService"].methods
    assert sorted(m.name for m in methods) == [
        "DescribeModel",
        "ListModels",
        "RegisterModel",
        "ScaleWorker",
        "SetDefault",
        "UnregisterModel",
    ]
    assert {m.output_type.name for m in methods} == {"ManagementResponse"}
    assert not any(m.client_streaming or m.server_streaming for m in methods)


def test_convlens_proto_field_numbers() -> None:
    assert convlens_pb2.DESCRIPTOR.package == "convlens.v1"
    numbers = {f.name: f.number for f in convlens_pb2.Response.DESCRIPTOR.oneofs_by_name["result"].fields}
    assert {k: numbers.get(k) for k in ("error", "classification", "heatmap", "progress")} == {
        "error": 1,
        "classification": 2,
        "heatmap": 3,
        "progress": 4,
    }
    assert _fields(convlens_pb2.Error)["field"] == (4, F.TYPE_STRING)
    assert _fields(convlens_pb2.Heatmap)["values"] == (3, F.TYPE_FLOAT)


def _gen_protos():
    """scripts/gen_protos.py as a module."""
    sys.path.insert(0, str(GEN.parent))
    try:
        import gen_protos
    finally:
        sys.path.pop(0)
    return gen_protos


def _descriptor_set(proto: Path) -> bytes:
    """protoc's FileDescriptorSet of one file (no source info: comments and layout don't count)."""
    import grpc_tools
    from grpc_tools import protoc

    out = proto.parent / (proto.name + ".pb")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    includes = [f"-I{proto.parent}"] + [f"-I{d}" for d in [*_gen_protos()._include_dirs()[1:], well_known]]
    assert protoc.main(["protoc", *includes, f"--descriptor_set_out={out}", str(proto)]) == 0
    return out.read_bytes()


@pytest.mark.parametrize("name", ["inference.proto", "management.proto"])
def test_protos_equal_torchserves_at_the_wire_level(name: str, tmp_path: Path) -> None:
    """Ours compile to the same descriptors as the ones shipped in TorchServe's jar."""
    spec = importlib.util.find_spec("ts")  # TorchServe, found without importing it
    jar = Path(spec.origin).parent / "frontend" / "model-server.jar" if spec and spec.origin else None
    if jar is None or not jar.is_file():
        pytest.skip("TorchServe's model-server.jar is not installed")
    (tmp_path / "jar").mkdir()
    (tmp_path / "ours").mkdir()
    with zipfile.ZipFile(jar) as z:
        (tmp_path / "jar" / name).write_bytes(z.read(f"proto/{name}"))
    shutil.copy(ROOT / "protos" / name, tmp_path / "ours" / name)
    theirs = descriptor_pb2.FileDescriptorSet.FromString(_descriptor_set(tmp_path / "jar" / name))
    ours = descriptor_pb2.FileDescriptorSet.FromString(_descriptor_set(tmp_path / "ours" / name))
    assert ours == theirs


def _check(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), "--check"], check=False, capture_output=True, text=True, timeout=120
    )


def test_committed_stubs_are_fresh() -> None:
    result = _check(GEN)
    assert result.returncode == 0, result.stderr


def _copy_generator(tmp_path: Path) -> Path:
    """gen_protos.py with the protos and the committed stubs in a scratch tree; returns the script."""
    for rel in (
        "scripts/gen_protos.py",
        "requirements/client-stubs.txt",
        "protos",
        "client/convlens_client/_proto",
        "handlers/serving/convlens_pb2.py",
    ):
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    script = tmp_path / "scripts" / "gen_protos.py"
    assert _check(script).returncode == 0
    return script


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new, 1))


def test_check_fails_on_changed_definitions_and_another_client_toolchain(tmp_path: Path) -> None:
    script = _copy_generator(tmp_path)
    proto = tmp_path / "client/convlens_client/_proto"
    _edit(proto / "inference_pb2.py", "model_name", "model_nome")  # inside the serialized descriptor
    _edit(proto / "inference_pb2_grpc.py", "channel.unary_stream(", "channel.unary_unary(")
    _edit(proto / "management_pb2.pyi", "    customized: bool\n", "")
    _edit(proto / "convlens_pb2.py", "grpcio-tools 1.62.3", "grpcio-tools 1.85.1")  # the header's stamp
    (tmp_path / "handlers/serving/convlens_pb2.py").unlink()
    result = _check(script)
    assert result.returncode != 0
    stale = {line.split(":")[0].strip() for line in result.stderr.splitlines()[1:]}
    assert stale == {
        "client/convlens_client/_proto/inference_pb2.py",
        "client/convlens_client/_proto/inference_pb2_grpc.py",
        "client/convlens_client/_proto/management_pb2.pyi",
        "client/convlens_client/_proto/convlens_pb2.py",
        "handlers/serving/convlens_pb2.py",
    }, result.stderr
    assert "made by grpcio-tools 1.85.1, not the pinned 1.62.3" in result.stderr
    assert "handlers/serving/convlens_pb2.py: missing" in result.stderr


def test_check_compares_meaning_whichever_toolchain_made_the_text(tmp_path: Path) -> None:
    """Stubs written by this environment's grpcio-tools (other text: version checks, layout, imports) pass the
    check of stubs made by the pinned one, as long as they define the same things."""
    script = _copy_generator(tmp_path)
    gen = _gen_protos()
    pinned = gen.pinned_client_tools()
    with tempfile.TemporaryDirectory() as out:
        files = gen.generate(Path(out), Path(sys.executable))  # the client's stubs from this venv's toolchain too
    client_rel = "client/convlens_client/_proto/"
    local = gen.tools_stamp(files[client_rel + "inference_pb2.py"])
    if local == pinned:
        pytest.skip(f"this environment's grpcio-tools is the pinned {pinned}: the texts would be equal")
    for rel, text in files.items():
        if rel.startswith(client_rel):
            (tmp_path / rel).write_text(text.replace(f"grpcio-tools {local} ", f"grpcio-tools {pinned} ", 1))
    committed = (STUBS / "inference_pb2_grpc.py").read_text()
    assert (tmp_path / client_rel / "inference_pb2_grpc.py").read_text() != committed
    result = _check(script)
    assert result.returncode == 0, result.stderr
    stub = tmp_path / client_rel / "inference_pb2.py"
    _edit(stub, "# Generated by the protocol", "# edited\n# Generated by the protocol")
    assert _check(script).returncode == 0  # comments and layout don't count


def test_stubs_use_package_relative_imports_and_say_they_are_generated() -> None:
    gen = _gen_protos()
    for path in sorted(STUBS.glob("*_pb2*.py")):
        text = path.read_text()
        assert "Generated by `python scripts/gen_protos.py` with grpcio-tools " in text, path.name
        assert not re.search(r"^import \w+_pb2", text, re.MULTILINE), path.name
    assert "from . import inference_pb2 as" in (STUBS / "inference_pb2_grpc.py").read_text()
    handler_copy = (ROOT / "handlers" / "serving" / "convlens_pb2.py").read_text()
    client_copy = (STUBS / "convlens_pb2.py").read_text()
    assert gen.serialized_descriptor(handler_copy) == gen.serialized_descriptor(client_copy)  # same messages
    # the server's copy is made by the main toolchain (requirements/test.txt), the client's by the pinned one
    main_tools = re.search(r"^grpcio-tools==(\S+)", (ROOT / "requirements" / "test.txt").read_text(), re.MULTILINE)
    assert main_tools and gen.tools_stamp(handler_copy) == main_tools.group(1)
    assert gen.tools_stamp(client_copy) == gen.pinned_client_tools()


def test_client_dependency_floors_match_the_stubs() -> None:
    """The client's stubs carry no runtime version check; its floors are the versions that made them."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    toolchain = dict(
        line.split("==") for line in (ROOT / "requirements" / "client-stubs.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for path in sorted(STUBS.glob("*_pb2*.py")):
        text = path.read_text()
        assert "ValidateProtobufRuntimeVersion" not in text and "GRPC_GENERATED_VERSION" not in text, path.name
        assert _gen_protos().tools_stamp(text) == toolchain["grpcio-tools"], path.name
    pb2 = (STUBS / "inference_pb2.py").read_text()
    gencode = re.search(r"^# Protobuf Python Version: ([\d.]+)$", pb2, re.MULTILINE)
    assert gencode and gencode.group(1) == toolchain["protobuf"]
    assert f"protobuf>={gencode.group(1)},<8" in deps
    assert f"grpcio>={toolchain['grpcio-tools']},<2" in deps and toolchain["grpcio"] == toolchain["grpcio-tools"]
    assert project["requires-python"] == ">=3.9"
