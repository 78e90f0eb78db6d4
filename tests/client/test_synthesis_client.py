"""Synthesis client methods, streamed-answer decoding (any chunking) and the CLI subcommands, with a fake
transport that answers canned frames."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from convlens_client import Client, Progress, SynthesisResult
from convlens_client._proto import convlens_pb2 as pb
from convlens_client.cli import main
from convlens_client.errors import ConvLensError, InvalidRequest, TooLarge
from convlens_client.transport.streaming import frames

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def delimited(message: bytes) -> bytes:
    out, n = bytearray(), len(message)
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + message


def event_line(step: int, total: int) -> bytes:
    return b'{"progress":' + json.dumps({"step": step, "total": total, "loss": 0.5, "stage": ""}).encode() + b"}\n"


def synthesis(technique: str = "fooling") -> pb.Response:
    msg = pb.SynthesisResult(technique=technique, steps=3, converged=True, metrics={"linf": 0.01},
                             images=[pb.Image(data=PNG, name="fooled", width=4, height=2),
                                     pb.Image(data=PNG, name="difference", width=4, height=2)],
                             predicted=[pb.Prediction(index=1, label="goldfish", probability=0.95)])
    return pb.Response(synthesis=msg)


def progress_msg(step: int, total: int) -> bytes:
    return pb.Response(progress=pb.Progress(step=step, total=total, loss=1.0)).SerializeToString()


def split_every(data: bytes, n: int) -> list[bytes]:
    return [data[i:i + n] for i in range(0, len(data), n)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_frames_survive_any_chunking(size):
    stream = event_line(0, 0) + event_line(1, 2) + PNG
    items = list(frames(split_every(stream, size), proto=False))
    assert [i.step for i in items[:-1]] == [0, 1] and items[-1] == PNG
    pstream = delimited(progress_msg(1, 2)) + delimited(synthesis().SerializeToString())
    items = list(frames(split_every(pstream, size), proto=True))
    assert isinstance(items[0], Progress) and pb.Response.FromString(items[1]).synthesis.technique == "fooling"


def test_truncated_streams_are_errors():
    with pytest.raises(ConvLensError):
        list(frames([delimited(progress_msg(1, 2))], proto=True))
    with pytest.raises(ConvLensError):
        list(frames([delimited(progress_msg(1, 2))[:-1]], proto=True))
    with pytest.raises(ConvLensError):
        list(frames([event_line(0, 0)], proto=False))


class FakeTransport:
    def __init__(self, predict: bytes = b"", stream: list[bytes] = ()) -> None:
        self.body, self.chunks, self.calls = predict, list(stream), []

    def predict(self, model, fields, timeout=None):
        self.calls.append(("predict", model, fields))
        return self.body

    def stream(self, model, fields, timeout=None) -> Iterator[bytes]:
        self.calls.append(("stream", model, fields))
        yield from self.chunks

    def close(self):
        pass


def client_with(transport: FakeTransport) -> Client:
    c = Client()
    c._transport = transport
    return c


def test_typed_call_asks_for_proto_and_builds_the_result():
    t = FakeTransport(predict=synthesis().SerializeToString())
    result = client_with(t).fooling(PNG, target="goldfish", max_steps=5)
    _, model, fields = t.calls[0]
    assert model == "fooling" and fields["format"] == "proto" and fields["target"] == "goldfish"
    assert fields["max_steps"] == "5" and "progress" not in fields
    assert isinstance(result, SynthesisResult) and result.get("difference").width == 4
    assert result.predicted[0].label == "goldfish" and result.metrics["linf"] == pytest.approx(0.01)


def test_streamed_typed_call_yields_events_then_the_result():
    body = delimited(progress_msg(0, 0)) + delimited(progress_msg(5, 5)) + delimited(synthesis().SerializeToString())
    t = FakeTransport(stream=split_every(body, 5))
    items = list(client_with(t).texture(PNG, layers=["stem", "block2"], stream=True))
    fields = t.calls[0][2]
    assert fields["progress"] == "stream" and fields["format"] == "proto" and fields["layers"] == "stem,block2"
    assert [type(i) for i in items] == [Progress, Progress, SynthesisResult] and items[1].fraction == 1.0


def test_streamed_errors_raise_with_their_field():
    err = pb.Response(error=pb.Error(code=400, type="InvalidParameter", message="bad", field="layers"))
    t = FakeTransport(stream=[delimited(progress_msg(0, 0)) + delimited(err.SerializeToString())])
    with pytest.raises(InvalidRequest) as info:
        list(client_with(t).texture(PNG, stream=True))
    assert info.value.field == "layers"
    error = b'{"code":413,"type":"TimeLimitExceeded","message":"m","field":"steps"}'
    t = FakeTransport(stream=[event_line(0, 0), error])
    with pytest.raises(TooLarge):
        list(client_with(t).deepdream_image(PNG, stream=True))


def test_picture_methods_return_the_bytes_and_stream_raw():
    t = FakeTransport(predict=PNG, stream=[event_line(0, 0), PNG])
    c = client_with(t)
    assert c.classviz_image(target=1, count=2) == PNG and t.calls[0][2]["count"] == "2"
    assert list(c.inversion_image(PNG, stream=True))[-1] == PNG and "format" not in t.calls[1][2]
    with pytest.raises(TypeError):
        c.classviz(target=1, format="png")


def test_cli_streams_with_a_progress_bar_and_writes_every_picture(tmp_path: Path, monkeypatch):
    body = delimited(progress_msg(1, 2)) + delimited(progress_msg(2, 2)) + delimited(synthesis().SerializeToString())
    t = FakeTransport(stream=[body])
    monkeypatch.setattr("convlens_client.cli.Client", lambda **kw: client_with(t))
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    status = main(["fooling", str(image), "--target", "goldfish", "--steps", "9", "--progress",
                   "-o", str(tmp_path / "f.png"), "--set", "size=64"], out=out, err=err)
    assert status == 0
    assert (tmp_path / "f.png").read_bytes() == PNG and (tmp_path / "f_difference.png").exists()
    fields = t.calls[0][2]
    assert fields["max_steps"] == "9" and fields["size"] == "64" and fields["target"] == "goldfish"
    assert "2/2" in err.getvalue() and "linf=0.01" in out.getvalue()


def test_classviz_sends_the_objective_count_and_diversity():
    t = FakeTransport(predict=synthesis("classviz").SerializeToString())
    result = client_with(t).classviz(layer="block10", channel=12, objective="neuron", count=3, diversity=50.0,
                                     param="fourier")
    _, model, fields = t.calls[0]
    assert model == "classviz" and fields["objective"] == "neuron" and fields["count"] == "3"
    assert fields["diversity"] == "50.0" and fields["param"] == "fourier" and fields["layer"] == "block10"
    assert "target" not in fields and "steps" not in fields and result.technique == "classviz"


def test_cli_classviz_passes_objective_and_diversity(tmp_path: Path, monkeypatch):
    t = FakeTransport(predict=synthesis("classviz").SerializeToString())
    monkeypatch.setattr("convlens_client.cli.Client", lambda **kw: client_with(t))
    out, err = io.StringIO(), io.StringIO()
    status = main(["classviz", "--layer", "block6", "--channel", "3", "--objective", "neuron", "--count", "2",
                   "--diversity", "10", "-o", str(tmp_path / "v.png")], out=out, err=err)
    assert status == 0, err.getvalue()
    fields = t.calls[0][2]
    assert (fields["objective"], fields["count"], fields["layer"], fields["channel"]) == ("neuron", "2", "block6", "3")
    assert float(fields["diversity"]) == 10.0
    with pytest.raises(SystemExit):  # choices come from the spec
        main(["classviz", "--target", "1", "--objective", "pixels"], out=out, err=io.StringIO())
