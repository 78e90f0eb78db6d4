"""The .proto files and their generated stubs: wire facts, freshness, and the client's version floors."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
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


def _descriptor_set(proto: Path) -> bytes:
    """protoc's FileDescriptorSet of one file (no source info: comments and layout don't count)."""
    from grpc_tools import protoc

    sys.path.insert(0, str(GEN.parent))
    try:
        import gen_protos
    finally:
        sys.path.pop(0)
    out = proto.parent / (proto.name + ".pb")
    includes = [f"-I{proto.parent}"] + [f"-I{d}" for d in gen_protos._include_dirs()[1:]]
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


def test_check_fails_on_an_edited_stub(tmp_path: Path) -> None:
    for rel in (
        "scripts/gen_protos.py",
        "protos",
        "client/convlens_client/_proto",
        "handlers/serving/convlens_pb2.py",
    ):
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    script = tmp_path / "scripts" / "gen_protos.py"
    assert _check(script).returncode == 0

    stub = tmp_path / "client/convlens_client/_proto/inference_pb2.py"
    stub.write_text(stub.read_text() + "# local edit\n")
    (tmp_path / "handlers/serving/convlens_pb2.py").unlink()
    result = _check(script)
    assert result.returncode != 0
    assert "client/convlens_client/_proto/inference_pb2.py" in result.stderr
    assert "handlers/serving/convlens_pb2.py" in result.stderr
    assert "management_pb2.py" not in result.stderr


def test_stubs_use_package_relative_imports_and_say_they_are_generated() -> None:
    for path in sorted(STUBS.glob("*_pb2*.py")):
        text = path.read_text()
        assert "Generated by `python scripts/gen_protos.py`" in text, path.name
        assert not re.search(r"^import \w+_pb2", text, re.MULTILINE), path.name
    assert "from . import inference_pb2 as" in (STUBS / "inference_pb2_grpc.py").read_text()
    handler_copy = ROOT / "handlers" / "serving" / "convlens_pb2.py"
    assert handler_copy.read_text() == (STUBS / "convlens_pb2.py").read_text()


def test_client_dependency_floors_match_the_stubs() -> None:
    """The stubs refuse older runtimes, so the client's floors must be their stamped versions."""
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"]
    pb2 = (STUBS / "inference_pb2.py").read_text()
    gen = re.search(r"ValidateProtobufRuntimeVersion\(\s*\S+,\s*(\d+),\s*(\d+),\s*(\d+),", pb2)
    assert gen, "no protobuf runtime check found in the stub"
    major, minor, patch = gen.groups()
    grpc_version = re.search(
        r"GRPC_GENERATED_VERSION = '([\d.]+)'", (STUBS / "inference_pb2_grpc.py").read_text()
    )
    assert grpc_version
    assert f"protobuf>={major}.{minor}.{patch},<{int(major) + 1}" in deps
    assert any(d.startswith(f"grpcio>={grpc_version.group(1)}") for d in deps)
