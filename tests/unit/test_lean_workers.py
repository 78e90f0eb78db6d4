"""What a worker loads at start (issue 20): stylize answers without torch; TorchServe's own `import torch` stays
lazy in workers (scripts/worker_site); backbone workers skip torchvision, OpenCV and scikit-learn until a request
needs them; the frontend's JVM has a heap ceiling. Each check runs in a fresh interpreter, whose imports are its own.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import write_config  # noqa: E402 - after the sys.path set-up above


def run_python(code: str, argv0: str = "-c", env_path: str | None = None) -> str:
    """Run `code` in a fresh interpreter with handlers/ on the path; returns its stdout (fails on an error)."""
    script = f"import sys\nsys.path[:0] = [{str(ROOT / 'handlers')!r}]\n" + code
    cmd = [sys.executable, "-c", script]
    if argv0 != "-c":  # run as a file of that name, as TorchServe runs its worker script
        cmd = [sys.executable, argv0]
        Path(argv0).write_text(script)
    env = {"PATH": "/usr/bin:/bin", **({"PYTHONPATH": env_path} if env_path else {})}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_stylize_worker_stylizes_a_photo_with_torch_unimportable():
    out = run_python(f"""
import io, json
import numpy as np
from PIL import Image
for blocked in ("torch", "torchvision", "cv2", "sklearn"):
    sys.modules[blocked] = None  # importing any of them now raises ImportError
import yaml
from stylize import StylizeHandler

class Context:
    system_properties = {{"model_dir": {str(ROOT / "model_store")!r}, "gpu_id": None}}
    model_yaml_config = yaml.safe_load(open({str(ROOT / "model_store" / "stylize.yaml")!r}))
    status = {{}}
    def get_request_header(self, idx, key):
        return "True" if key == "describe" and self.describe else None
    def set_response_content_type(self, idx, value):
        pass
    def set_response_status(self, code=200, phrase="", idx=0):
        self.status[idx] = code

handler = StylizeHandler()
ctx = Context()
ctx.describe = False
handler.initialize(ctx)
photo = io.BytesIO()
Image.fromarray((np.indices((48, 64)).sum(0) % 255).astype(np.uint8)[..., None].repeat(3, 2)).save(photo, "PNG")
out = handler.handle([{{"image": photo.getvalue(), "style": "pointillism", "format": "png"}}], ctx)[0]
assert not ctx.status, (ctx.status, out[:500])
picture = np.asarray(Image.open(io.BytesIO(out)))
ctx.describe = True
described = json.loads(handler.handle([{{}}], ctx)[0])
print(picture.shape, round(float(picture.std()), 1), ctx.status, described["providers"], "backbone" in described)
""")
    shape, _, rest = out.partition(") ")
    assert shape == "(48, 64, 3"
    std, status, providers = rest.split(" ", 2)[0], rest.split(" ", 2)[1], rest.split(" ", 2)[2]
    assert float(std) > 10  # a stylized picture, not a blank one
    assert status == "{}"  # no error status was set
    assert providers.strip() == "['CPUExecutionProvider'] False"


def test_worker_site_keeps_torchserves_torch_import_lazy(tmp_path):
    worker = tmp_path / "model_service_worker.py"  # what TorchServe's frontend runs
    out = run_python("""
import ts.model_service_worker  # imports torch (ts/protocol/otf_message_handler.py)
print("loaded" if "torch._C" in sys.modules else "lazy")
import torch.nn.functional as F  # a submodule first: torch loads in full before it
import torch
x = F.relu(torch.tensor([-1.0, 2.0]))
print(isinstance(x, torch.Tensor), x.tolist(), torch.__name__, type(torch).__name__)
""", argv0=str(worker), env_path=str(ROOT / "scripts" / "worker_site"))
    assert out.splitlines() == ["lazy", "True [0.0, 2.0] torch module"]
    plain = run_python('print("torch" in sys.modules)', env_path=str(ROOT / "scripts" / "worker_site"))
    assert plain.strip() == "False"  # any other script: no lazy torch registered


def test_backbone_workers_start_without_torchvision_opencv_or_sklearn():
    handlers = sorted(p.stem for p in (ROOT / "handlers").glob("*.py") if p.stem != "stylize")
    out = run_python(f"""
import importlib
for name in {handlers!r}:
    importlib.import_module(name)
from convlens.core import backbones
import torch
backbone = backbones.load_backbone("efficientnet_lite0", None, torch.device("cpu"))
print(len(backbone.labels), backbone.labels[0], backbone.labels[281], backbone.labels[999])
print(sorted(m for m in ("torchvision", "cv2", "sklearn", "scipy", "matplotlib") if m in sys.modules))
""")
    labels, heavy = out.splitlines()
    assert labels == "1000 tench tabby toilet tissue"  # ImageNet classes 0, 281 and 999
    assert heavy == "[]"


def test_imagenet_labels_are_torchvisions_without_importing_it():
    from torchvision.models import ResNet50_Weights

    from convlens.core import backbones

    assert backbones.imagenet_labels() == list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def test_frontend_jvm_has_a_heap_ceiling_and_a_small_collector():
    text = write_config.config_text("127.0.0.1", {"http": 1, "management": 2, "metrics": 3, "grpc": 4,
                                                  "grpc_management": 5}, ROOT / "model_store", 60)
    vmargs = next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("vmargs="))
    assert "-Xmx1g" in vmargs.split() and "-XX:+UseSerialGC" in vmargs.split()
