"""A static check of the engine, handler and build-tool sources for code that breaks, or silently stays on the CPU,
when the backbone lives on a CUDA device: tensor factories without `device=` whose result is never moved, `.numpy()`
without `.cpu()`, a seeded generator asked for device tensors, CUDA calls that mean "the current device" (0).

Precise rather than complete: a factory result counts as moved when its expression reaches `.to(...)` (through
arithmetic, method chains, indexing and `torch.*` calls), when the local name it is assigned to reaches `.to(...)`
at every use before it is rebound, when it becomes module state (`nn.Parameter`, `register_buffer`), or, for a
module-level constant, when every use inside a function reaches `.to(...)`. Deliberate CPU tensors are listed in
ALLOWED with the reason; the runtime check on a stand-in accelerator (fake_device.py) covers the data flow.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FACTORIES = {"zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "normal", "tensor",
             "as_tensor", "arange", "linspace", "logspace", "eye", "from_numpy", "fftfreq", "rfftfreq"}
MOVES = {"to", "cuda"}
CURRENT_DEVICE_CALLS = {"mem_get_info", "memory_allocated", "max_memory_allocated", "memory_reserved",
                        "max_memory_reserved", "reset_peak_memory_stats", "synchronize", "get_device_properties",
                        "get_device_name", "set_device"}
MODULE_STATE = {"Parameter", "register_buffer"}
DTYPES = {"float", "float16", "float32", "float64", "double", "half", "bfloat16", "int", "int8", "int16", "int32",
          "int64", "long", "uint8", "bool", "complex64", "complex128"}

# (path under handlers/ or tools/, enclosing function, factory or "numpy") -> why a CPU tensor is right there
ALLOWED = {
    ("convlens/core/inputs.py", "to_tensor", "from_numpy"):
        "CPU by contract: classify() and style_transfer() move their input to the backbone's device",
    ("convlens/synthesis/regularizers.py", "gaussian_kernel", "arange"):
        "a CPU kernel: gaussian_blur moves it to x's device, ssim runs on CPU",
    ("convlens/synthesis/regularizers.py", "random_shifts", "randint"):
        "seeded CPU draws read back as Python ints (jitter offsets)",
    ("convlens/synthesis/transforms.py", "Robustness.sample", "rand"):
        "seeded CPU draws read back as Python floats (shift, scale, angle)",
    ("convlens/synthesis/image_param.py", "fft_scale", "fftfreq"): "a CPU table: FourierParam moves it",
    ("convlens/synthesis/image_param.py", "fft_scale", "rfftfreq"): "a CPU table: FourierParam moves it",
    ("convlens/synthesis/metrics.py", "_as_tensor", "from_numpy"): "picture metrics (PSNR, SSIM) run on CPU",
    ("stylizers/train.py", "random_crops", "from_numpy"): "CPU crops: train() moves the batch to its device",
    ("stylizers/export.py", "export_onnx", "from_numpy"): "ONNX export runs on CPU (the model is moved there)",
    ("stylizers/export.py", "max_abs_diff", "from_numpy"): "the ONNX check runs after export_onnx, on CPU",
    ("stylizers/export.py", "max_abs_diff", "numpy"): "the ONNX check runs after export_onnx, on CPU",
    ("stylizers/export.py", "model_from_onnx", "from_numpy"):
        "weights read back from an ONNX file into a CPU network, to derive its fast graph (export time, CPU)",
    ("convlens/attribution/faithfulness.py", "pixel_ranks", "randperm"):
        "the seeded tie-breaking shuffle on the CPU generator: curve_probabilities moves the ranks",
    ("convlens/attribution/faithfulness.py", "random_ranks", "rand"):
        "the seeded random baseline map on the CPU generator: curve_probabilities moves its ranks",
    ("stylizers/fastgraph.py", "space_to_depth_conv", "zeros"):
        "an exact weight rewrite on numpy-sourced CPU weights at export time",
    ("convlens/style/color.py", "match_palette", "randn"):
        "seeded CPU draw of a colour rotation, orthonormalized on CPU, then moved to the image's device",
    ("convlens/style/metrics.py", "palette_distance.tensor", "from_numpy"): "picture metrics run on CPU (uint8 arrays)",
    ("stylizers/distill.py", "Teacher.__call__", "from_numpy"): "the teacher is an ONNX Runtime CPU session",
    ("stylizers/distill.py", "Teacher.__call__", "numpy"): "the teacher is an ONNX Runtime CPU session",
    ("stylizers/distill.py", "blend_weights", "from_numpy"): "distillation trains on CPU (its teacher is ONNX on CPU)",
    ("stylizers/export_arbitrary.py", "export_encoder", "rand"): "ONNX export runs on CPU (the model is moved there)",
    ("stylizers/export_arbitrary.py", "encoder_max_abs_diff", "rand"): "the ONNX check runs after export, on CPU",
    ("stylizers/export_arbitrary.py", "encoder_max_abs_diff", "numpy"): "the ONNX check runs after export, on CPU",
}


@dataclass(frozen=True)
class Finding:
    """One suspicious call: where, in which function, which rule, and the source text."""

    path: str
    line: int
    scope: str
    rule: str
    name: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.scope or '<module>'}: {self.rule}: {self.text}"


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_torch_attr(node: ast.AST) -> bool:
    """`torch.x`, `torch.a.b`, ... (a function of the torch namespace)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "torch"


def _factory(node: ast.AST) -> str | None:
    """The factory's name when `node` is a call of a torch tensor factory, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FACTORIES \
            and _is_torch_attr(node.func.value):
        return node.func.attr
    return None


def _kwarg(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _reaches_move(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether the value of `node` flows, within its expression, into `.to(...)` / `.cuda(...)` or module state."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Attribute) and parent.value is node:
            call = parents.get(parent)
            if isinstance(call, ast.Call) and call.func is parent and parent.attr in MOVES and _names_device(call):
                return True
        elif isinstance(parent, ast.Call):
            callee = parent.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if node is not callee and name in MODULE_STATE:
                return True
            if node is not callee and not _is_torch_attr(callee):
                return False  # handed to a function of ours: what it does is checked where it is defined
        elif not isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Subscript, ast.IfExp, ast.Tuple, ast.List,
                                     ast.Starred, ast.keyword)):
            return False
        node = parent
    return False


def _names_device(call: ast.Call) -> bool:
    """Whether a `.to(...)`/`.cuda(...)` call can name a device: not only a dtype (`.to(torch.float64)`)."""
    if call.func.attr == "cuda" or _kwarg(call, "device") is not None:
        return True
    dtype_only = all(isinstance(a, ast.Attribute) and a.attr in DTYPES and _is_torch_attr(a.value) for a in call.args)
    return bool(call.args) and not dtype_only


def _assigned_name(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[str, ast.stmt] | None:
    """(name, statement) when the expression holding `node` is assigned as a whole to one plain name."""
    while node in parents and isinstance(parents[node], (ast.Attribute, ast.Call, ast.Subscript, ast.BinOp)):
        parent = parents[node]
        if isinstance(parent, ast.Call) and node is not parent.func:
            return None
        node = parent
    stmt = parents.get(node)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is node:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            return targets[0].id, stmt
    return None


def _later_uses_move(name: str, stmt: ast.stmt, scope: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Every load of `name` after `stmt`, up to and including the statement that rebinds it, reaches a move."""
    names = sorted((n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == name
                    and (n.lineno, n.col_offset) > (stmt.end_lineno, stmt.end_col_offset)),
                   key=lambda n: (n.lineno, n.col_offset))
    rebound = next((n.lineno for n in names if isinstance(n.ctx, ast.Store)), None)
    loads = [n for n in names if isinstance(n.ctx, ast.Load) and (rebound is None or n.lineno <= rebound)]
    return bool(loads) and all(_reaches_move(n, parents) for n in loads)


def _scopes(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function, and ("", module) for module-level code."""
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)
    yield "", tree
    yield from walk(tree, "")


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a scope (lambdas included), not those of the functions and classes defined in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _module_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to a tensor made by a factory, or computed from such a name."""
    constants: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if any(_factory(n) or (isinstance(n, ast.Name) and n.id in constants) for n in ast.walk(stmt.value)):
                constants.add(stmt.targets[0].id)
    return constants


def check_source(source: str, path: str = "<snippet>") -> list[Finding]:
    """Every finding in one module's source, before the allow-list."""
    tree = ast.parse(source)
    parents = _parents(tree)
    lines = source.splitlines()
    findings: list[Finding] = []

    def add(node: ast.AST, scope: str, rule: str, name: str) -> None:
        findings.append(Finding(path, node.lineno, scope, rule, name, lines[node.lineno - 1].strip()))

    constants = _module_constants(tree)
    for scope_name, scope in _scopes(tree):
        for node in _own_nodes(scope):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in constants \
                    and scope_name and not _reaches_move(node, parents):
                add(node, scope_name, "module tensor used without .to(device)", node.id)
            if not isinstance(node, ast.Call):
                continue
            factory = _factory(node)
            if factory:
                device, generator = _kwarg(node, "device"), _kwarg(node, "generator")
                if device is not None and generator is not None:
                    add(node, scope_name, "seeded generator asked for device tensors", factory)
                elif device is None and scope_name and not _reaches_move(node, parents):
                    assigned = _assigned_name(node, parents)
                    if assigned is None or not _later_uses_move(*assigned, scope, parents):
                        add(node, scope_name, "tensor factory without device= that is never moved", factory)
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "numpy" and not _through_cpu(func.value):
                add(node, scope_name, ".numpy() without .cpu()", "numpy")
            if isinstance(func, ast.Attribute) and func.attr == "cuda" and not node.args and not node.keywords:
                add(node, scope_name, ".cuda() means the current device, not the backbone's", "cuda")
            if isinstance(func, ast.Attribute) and func.attr in CURRENT_DEVICE_CALLS and _is_torch_attr(func.value) \
                    and not node.args and not node.keywords:
                add(node, scope_name, f"torch.cuda.{func.attr}() without the backbone's device", func.attr)
            if isinstance(func, ast.Attribute) and func.attr == "Generator" and _is_torch_attr(func.value):
                device = _kwarg(node, "device") or (node.args[0] if node.args else None)
                if device is not None and not (isinstance(device, ast.Constant) and device.value == "cpu"):
                    add(node, scope_name, "a generator off the CPU changes seeded results per device", "Generator")
    return findings


def _through_cpu(node: ast.AST) -> bool:
    """Whether a receiver chain (`a.b().c[...]...`) passes through a `.cpu()` call."""
    while True:
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "cpu":
                return True
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return False


def sources(root: Path) -> Iterable[Path]:
    """Every Python file under `root` (handlers/: the engine and the handlers; tools/: the build tools), not
    generated code."""
    return sorted(p for p in root.rglob("*.py") if not p.name.endswith("_pb2.py") and "__pycache__" not in p.parts)


def check_tree(root: Path) -> tuple[list[Finding], set[tuple[str, str, str]]]:
    """(findings not allowed, allow-list entries that matched something) for the sources under `root`."""
    left, used = [], set()
    for path in sources(root):
        rel = path.relative_to(root).as_posix()
        for finding in check_source(path.read_text(), rel):
            key = (rel, finding.scope, finding.name)
            if key in ALLOWED:
                used.add(key)
            else:
                left.append(finding)
    return left, used
