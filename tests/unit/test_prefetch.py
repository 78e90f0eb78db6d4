"""scripts/prefetch_weights.py (the Docker build's optional VGG download), with the download faked: the file must
land where the backbone registry looks at run time and load with weights_only=True, or the build fails."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torchvision.models import get_model
from torchvision.models._api import WeightsEnum

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import prefetch_weights  # noqa: E402 - after the sys.path set-up above
from convlens.core import backbones  # noqa: E402 - after the sys.path set-up above

ARCH = "squeezenet1_1"  # small stand-in for vgg16/vgg19: same code path, 5 MB


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() reads TORCH_HOME again
    return tmp_path


def test_prefetched_weights_land_where_the_backbone_loads_them(torch_home, monkeypatch):
    calls = []

    def fake_download(self, **kwargs):  # what torch.hub does: save into $TORCH_HOME/hub/checkpoints
        calls.append(kwargs)
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(self.url).name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(get_model(ARCH, weights=None).state_dict(), path)
        return torch.load(path, weights_only=True)

    monkeypatch.setattr(WeightsEnum, "get_state_dict", fake_download)
    path = prefetch_weights.prefetch(ARCH)
    assert path == backbones.cached_weights_path(ARCH) and path.is_relative_to(torch_home)
    assert calls == [{"progress": False, "check_hash": True, "weights_only": True}]


def test_a_download_that_lands_elsewhere_fails_the_build(torch_home, monkeypatch):
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, **kwargs: {})
    with pytest.raises(SystemExit, match="did not land"):
        prefetch_weights.prefetch(ARCH)
