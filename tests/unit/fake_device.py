"""A stand-in accelerator for CPU-only machines: engine code runs on fake tensors of device `meta` under
PyTorch's FakeTensorMode, which (unlike plain meta tensors) rejects mixed-device operations exactly as CUDA does
(0-dim CPU scalars and CPU index tensors allowed), while autograd still works. No arithmetic happens, so read-backs
to Python and numpy return dummy values (ones), after checking what CUDA would check: `.numpy()` only on CPU
tensors without grad, a seeded generator only with tensors of its own device.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.overrides import TorchFunctionMode

DEVICE = torch.device("meta")
NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
                torch.uint8: np.uint8, torch.int32: np.int32, torch.int64: np.int64, torch.bool: np.bool_}


def _scalar_indices_read(index):
    if isinstance(index, tuple):
        return tuple(_scalar_indices_read(i) for i in index)
    if isinstance(index, torch.Tensor) and index.dim() == 0 and not index.dtype.is_floating_point:
        return 1
    return index


class ReadBacks(TorchFunctionMode):
    """Answers read-backs of fake tensors with ones, and raises where a CUDA tensor would."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.numpy, torch.Tensor.__array__):
            t = args[0]
            if t.device.type != "cpu":
                raise TypeError(f"can't convert {t.device} device type tensor to numpy; use .cpu() first")
            if func is torch.Tensor.numpy and t.requires_grad:
                raise RuntimeError("Can't call numpy() on Tensor that requires grad")
            return np.ones(tuple(t.shape), NUMPY_DTYPES[t.dtype])
        if func is torch.Tensor.__float__:
            return 1.0
        if func in (torch.Tensor.__int__, torch.Tensor.__index__):
            return 1
        if func is torch.Tensor.__bool__:
            return False
        if func is torch.Tensor.item:
            return 1.0 if args[0].dtype.is_floating_point else 1
        if func is torch.Tensor.tolist:
            t = args[0]
            return np.ones(tuple(t.shape), float if t.dtype.is_floating_point else int).tolist()
        if func is torch.Tensor.__getitem__:  # a 0-d integer tensor as index is read back too
            args = (args[0], _scalar_indices_read(args[1]))
        generator = kwargs.get("generator")
        if generator is not None and "device" in kwargs and torch.device(kwargs["device"]).type != \
                generator.device.type:
            raise RuntimeError(f"a {generator.device} generator cannot make tensors on {kwargs['device']}")
        return func(*args, **kwargs)


def _no_grad_enter(self) -> None:
    self._grad_was_enabled = torch.is_grad_enabled()
    torch.set_grad_enabled(False)


def _no_grad_exit(self, *exc) -> None:
    torch.set_grad_enabled(self._grad_was_enabled)


@contextlib.contextmanager
def fake_accelerator() -> Iterator[torch.device]:
    """Within the block, tensors are fake; the yielded device is the stand-in accelerator.

    `torch.inference_mode` acts as `no_grad` meanwhile: FakeTensorMode cannot make fresh tensors in inference mode.
    """
    mode = torch.autograd.grad_mode.inference_mode
    with mock.patch.object(mode, "__enter__", _no_grad_enter), mock.patch.object(mode, "__exit__", _no_grad_exit), \
            FakeTensorMode(allow_non_fake_inputs=True), ReadBacks():
        yield DEVICE


def on_device(model: nn.Module, device: torch.device = DEVICE) -> nn.Module:
    """Move `model`'s parameters and buffers to `device` in place (inside `fake_accelerator`; give it a copy made
    outside the block). `Module.to` cannot swap real parameters for fake ones, so they are replaced one by one."""
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                module._parameters[name] = nn.Parameter(p.detach().to(device), requires_grad=p.requires_grad)
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = b.to(device)
    return model
