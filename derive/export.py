"""A layer written as one expression, as a PyTorch or JAX file.

The same lowering that writes derive.nn's numpy kernels (:mod:`derive.lowering`, driven by
:class:`derive.generate._Writer`) prints here in ``torch`` or ``jax.numpy``: only the few
spellings that differ between array modules are overridden (a transpose, ``tensordot``,
``arange``, the stable shift), and nothing is computed in place, so that PyTorch and JAX can
differentiate the backward itself (double backward, ``check_grads(order=2)``).

* ``torch``: ``class <Name>Function(torch.autograd.Function)`` and ``class <Name>(torch.nn.Module)``
  holding the parameters as ``nn.Parameter``; a criterion is a function ``<Name>(x, t)``.
* ``jax``: ``<Name>(x, *params)`` with ``jax.custom_vjp`` and ``init(key)`` for its parameters.
"""

from __future__ import annotations

import math
import re

import sympy as sp

from .generate import _docline, _Writer
from .lowering import Lowering, _atom
from .symbolic.language import parse
from .symbolic.layer import gradients, grad_output_name

FRAMEWORKS = ("torch", "jax")
_NAMESPACE = {"torch": "torch.", "jax": "jnp."}


class _Gathering(Lowering):
    """The numpy lowering's windows and extrema in the spelling torch and jax.numpy share:
    an integer gather (their arrays have no strided views of numpy's kind) and ``.max(axis=)``."""

    strided = False
    subtracts_masks = False  # torch refuses float - bool
    scatters = False  # nothing in place: torch and jax differentiate the kernels

    def _print_window(self, name: str, axes: tuple, starts: list[int], steps: list[dict]) -> str:
        """``window(name, indices)``, one index array per axis of ``name``."""
        parts = []
        for start, step in zip(starts, steps):
            terms = []
            for k, c in step.items():
                shape = ", ".join(str(self.ranges[a]) if j == k else "1" for j, a in enumerate(axes))
                arange = f"{self._print_arange(str(self.ranges[axes[k]]))}.reshape({shape}{',' if len(axes) == 1 else ''})"
                terms.append(arange if c == 1 else f"{c} * {arange}")
            text = " + ".join(terms) if terms else "0"
            parts.append(f"{text} + {start}" if start else text)
        return f"window({name}, ({', '.join(parts)}{',' if len(parts) == 1 else ''}))"

    def _print_extremum(self, code: str, axis: str, kind: str) -> str:
        return f"{_atom(code)}.{kind}(axis={axis})"

    def _print_rows(self, size: str) -> str:
        return self._print_arange(f"0, {size}")


class TorchLowering(_Gathering):
    """The numpy lowering, printed in torch: ``permute``, ``tensordot(dims=)``, ``arange`` on
    the input's device."""

    def __init__(self, arrays: dict[str, str], ranges: dict, device: str) -> None:
        super().__init__(arrays, ranges)
        self.device = device

    def _print_transpose(self, code: str, perm: tuple[int, ...]) -> str:
        return f"{_atom(code)}.permute{perm}"

    def _print_arange(self, bounds: str) -> str:
        return f"xp.arange({bounds}, device={self.device})"

    def _print_largest(self, code: str, axis: str) -> str:
        # The shift is a constant of the proof (any c gives the same result): no gradient flows
        # through it, which keeps the backward differentiable where two elements tie at the max.
        return f"{_atom(code)}.detach().amax(dim={axis})"

    def _print_tensordot(self, a: str, b: str, axes: str) -> str:
        return f"xp.tensordot({a}, {b}, dims={axes})"

    def _print_extremum(self, code: str, axis: str, kind: str) -> str:
        # torch's max(dim) returns (values, indices); amax takes several dims and gives the values
        return f"{_atom(code)}.a{kind}(dim={axis})"


class JaxLowering(_Gathering):
    """The numpy lowering for jax.numpy: the shift held out of the gradient, as in torch."""

    def _print_largest(self, code: str, axis: str) -> str:
        return f"jax.lax.stop_gradient({_atom(code)}.max(axis={axis}))"

    def _print_tensordot(self, a: str, b: str, axes: str) -> str:
        return f"xp.tensordot({a}, {b}, axes={axes})"


def export_source(expr: str, shapes=None, *, framework: str = "torch", input: str = "x",
                  target: str | None = None, name: str = "Layer") -> str:
    """The text of a Python file with the layer ``expr`` for ``framework`` ("torch" or "jax")."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"name must be a Python class name, got {name!r}")
    spec = parse(expr, shapes, input=input, target=target)
    if spec.is_criterion and spec.parameters:
        raise ValueError(f"a criterion's expression may use only its input and target; "
                         f"{spec.parameters[0].name} would be a parameter (name the target with --target)")
    taken = {"forward", "training", "apply", "init", "jax", "jnp", "torch", "math", name, f"{name}Function"}
    for array in spec.arrays.values():
        if array.name in taken:
            raise ValueError(f"cannot export to {framework}: the array name {array.name!r} is taken "
                             f"in the exported file; rename it")
    try:
        return _Export(spec, name, framework).source()
    except ValueError as error:  # the lowering's "cannot lower ...": not expressible here
        raise ValueError(f"cannot export {expr!r} to {framework}: {error}") from None


class _Export(_Writer):
    def __init__(self, spec, name: str, framework: str) -> None:
        super().__init__(spec, name)
        self.framework = framework
        self.guards: list[str] | None = None  # each result's "needs" test, in the backward kernel

    # -- the hooks of the numpy writer -------------------------------------------------
    def _prologue(self, args: list[str]) -> list[str]:
        return []

    def _lowering(self, arrays, ranges, spec) -> Lowering:
        if self.framework == "torch":
            return TorchLowering(arrays, ranges, f"{spec.input.name}.device")
        return JaxLowering(arrays, ranges)

    float_loss = False  # a tensor: the framework differentiates it

    def _store(self, target: str, op: str, code: str) -> str:
        return f"{target} = {code}"  # fresh arrays: no float(), no accumulation

    def _finish(self, lines: list[str], lowering: Lowering) -> list[str]:
        prefix = _NAMESPACE[self.framework]
        lines = [re.sub(r"\bxp\.", prefix, line) for line in lines]
        return lines if self.guards is None else _guarded(lines, self.guards)

    # -- kernels -----------------------------------------------------------------------
    def kernels(self, spec, suffix: str) -> list[str]:
        grads = gradients(spec)
        inputs = self._signature(spec)
        y, g = spec.output.name, grad_output_name(spec)
        if spec.is_criterion:
            gin = grads[spec.input.name]
            return [self._kernel(spec, f"update_output{suffix}", inputs, [("loss", "=", spec.expr, ())],
                                 _docline(f"{y} = {sp.sstr(spec.expr)}"), "loss"),
                    self._kernel(spec, f"update_grad_input{suffix}", inputs,
                                 [("grad_input", "=", gin.final, gin.indices)],
                                 _docline(f"gradInput[{', '.join(map(str, gin.indices))}] = {sp.sstr(gin.final)}"),
                                 "grad_input")]
        forward = self._kernel(spec, f"update_output{suffix}", inputs, [("output", "=", spec.expr, spec.indices)],
                               _docline(f"{y}[{', '.join(map(str, spec.indices))}] = {sp.sstr(spec.expr)}"),
                               "output")
        arrays = [spec.input] + spec.parameters
        body = [("grad_input" if a is spec.input else f"grad_{a.name}", "=", grads[a.name].final,
                 grads[a.name].indices) for a in arrays]
        doc = "\n\n    ".join(_docline(f"grad{'Input' if a is spec.input else a.name}"
                                       f"[{', '.join(map(str, grads[a.name].indices))}] = {sp.sstr(grads[a.name].final)}")
                              for a in arrays)
        results = ", ".join(target for target, *_ in body)
        if self.framework == "torch":  # only the gradients autograd asks for
            self.guards = [f"needs[{k}]" for k in range(len(body))]
            backward = self._kernel(spec, f"backward{suffix}", inputs + [y, g, "needs"], body,
                                    f"The gradients asked for (needs[k]: of the k-th argument), else None.\n\n    {doc}",
                                    results)
            self.guards = None
        else:
            backward = self._kernel(spec, f"backward{suffix}", inputs + [y, g], body, doc, results)
        return [forward, backward]

    # -- the file ----------------------------------------------------------------------
    def source(self) -> str:
        spec = self.spec
        blocks = self.kernels(spec, "") + self.kernels(self.batch, "_batch")
        used = "".join(blocks)
        helpers = [_HELPERS[self.framework][f] for f in ("relu", "sigmoid", "softplus", "step", "window")
                   if re.search(rf"(?<![.\w]){f}\(", used)]
        shapes = ", ".join(f"{a.name} {spec.concrete(a.shape)}" for a in spec.arrays.values())
        kind = "torch.autograd.Function and torch.nn.Module" if self.framework == "torch" else "jax.custom_vjp"
        doc = (f'"""{self.name}: {spec.text}\n\nDerived and proved by derive; the kernels are its results, '
               f"lowered to {'torch' if self.framework == 'torch' else 'jax.numpy'} ({kind}).\n"
               f"Shapes (one sample): {shapes}.\n"
               "A batch adds a leading axis to the input"
               + (" and the target" if spec.target is not None else " and the output") + '.\n"""\n')
        header = f"# generated by `derive layer --export {self.framework}` — do not edit; regenerate it instead.\n"
        imports = "import torch\n" if self.framework == "torch" else "import jax\nimport jax.numpy as jnp\n"
        tail = self._torch() if self.framework == "torch" else self._jax()
        return (header + doc + "\n" + imports + "\n\n" + "".join(h + "\n\n" for h in helpers)
                + "\n\n".join(blocks) + "\n\n" + tail)

    def _class_target(self) -> bool:
        """Whether the target holds integer classes read in a subscript (x[t])."""
        return self.spec.target is not None and self.spec.target.integer

    def _dims(self) -> tuple[int, int]:
        return len(self.spec.input.shape), len(self.spec.input.shape) + 1

    def _torch(self) -> str:
        spec, name = self.spec, self.name
        params = [p.name for p in spec.parameters]
        args = self._signature(spec)
        x = spec.input.name
        sample = spec.concrete(spec.input.shape)
        one, batch = self._dims()
        lines = [f"class {name}Function(torch.autograd.Function):",
                 f'    """{_docline(spec.text)}, forward and backward from derive\'s proved gradients.',
                 "",
                 "    The backward is made of differentiable torch operations: double backward works.",
                 '    """', "",
                 "    @staticmethod",
                 f"    def forward(ctx, {', '.join(args)}):",
                 f"        batch = _is_batch({x}{', ' + spec.target.name if spec.target is not None else ''})"]
        if spec.is_criterion:
            lines += [f"        loss = (update_output_batch if batch else update_output)({', '.join(args)})",
                      f"        ctx.save_for_backward({', '.join(args)})",
                      "        ctx.batch = batch",
                      "        return loss", "",
                      "    @staticmethod",
                      "    def backward(ctx, grad_output):",
                      f"        {', '.join(args)}, = ctx.saved_tensors",
                      ]
            if spec.target is not None:
                lines += ["        if ctx.needs_input_grad[1]:",
                          "            raise RuntimeError('the gradient with respect to the target is not derived')"]
            lines += [f"        kernel = update_grad_input_batch if ctx.batch else update_grad_input",
                      f"        grad_input = grad_output * kernel({', '.join(args)}) if ctx.needs_input_grad[0] else None",
                      f"        return grad_input{', None' if spec.target is not None else ''}"]
        else:
            y, g = spec.output.name, grad_output_name(spec)
            lines += [f"        {y} = (update_output_batch if batch else update_output)({', '.join(args)})",
                      f"        ctx.save_for_backward({', '.join(args + [y])})",
                      "        ctx.batch = batch",
                      f"        return {y}", "",
                      "    @staticmethod",
                      f"    def backward(ctx, {g}):",
                      f"        {', '.join(args + [y])} = ctx.saved_tensors",
                      f"        kernel = backward_batch if ctx.batch else backward",
                      f"        return kernel({', '.join(args + [y, g])}, ctx.needs_input_grad)"]
        shape_check = [
            "", "",
            f"def _is_batch({x}, target=None):",
            f'    """False for one sample {sample}, True for a batch (B, *{sample}); raises on any other shape."""',
            f"    if tuple({x}.shape[-{one}:]) != {sample!r} or {x}.dim() not in ({one}, {batch}):"
            if one else f"    if {x}.dim() not in (0, 1):",
            f"        raise ValueError(f'{name}: the input must have shape {sample} or (batch, *{sample}), "
            f"got {{tuple({x}.shape)}}')",
            *(["    if target is not None and target.shape != " + f"{x}.shape:",
               f"        raise ValueError(f'{name}: the target must have the input\\'s shape {{tuple({x}.shape)}}, "
               "got {tuple(target.shape)}')"] if not self._class_target() else [
                # integer classes: one index a sample (the target's own shape), a batch adds its axis
                f"    want = tuple({x}.shape[:{x}.dim() - {one}]) + {spec.concrete(spec.target.shape)!r}",
                "    if target is not None and tuple(target.shape) != want:",
                f"        raise ValueError(f'{name}: the target must have shape {{want}} (class indices "
                "counted from 0), got {tuple(target.shape)}')"]),
            f"    return {x}.dim() == {batch}"]
        lines += shape_check
        if spec.is_criterion:
            lines += ["", "",
                      f"def {name}({', '.join(args)}):",
                      f'    """{_docline(spec.text)}: the loss (for a batch, the mean of the samples\' losses)."""',
                      f"    return {name}Function.apply({', '.join(args)})"]
            return "\n".join(lines) + "\n"
        s = 1 / math.sqrt(math.prod(sample))
        lines += ["", "",
                  f"class {name}(torch.nn.Module):",
                  f'    """{_docline(spec.text)}: parameters '
                  + (", ".join(f"{p.name} {spec.concrete(p.shape)}" for p in spec.parameters) or "none")
                  + ('; each drawn from U(-s, s), s = 1/sqrt(input size per sample), as derive.nn\'s modules are.'
                     if params else '.') + '"""', "",
                  f"    inputShape = {sample!r}", "",
                  "    def __init__(self, device=None, dtype=None, generator=None) -> None:",
                  "        super().__init__()"]
        for p in spec.parameters:
            lines.append(f"        self.{p.name} = torch.nn.Parameter(torch.empty({spec.concrete(p.shape)!r}, "
                         "device=device, dtype=dtype))")
        if params:
            lines += ["        self.reset_parameters(generator)", "",
                      "    def reset_parameters(self, generator=None) -> None:",
                      '        """Draw every parameter from U(-s, s), s = 1/sqrt(input size per sample)."""',
                      f"        s = {s!r}",
                      "        with torch.no_grad():"]
            lines += [f"            self.{p}.uniform_(-s, s, generator=generator)" for p in params]
        lines += ["", f"    def forward(self, {x}):",
                  f'        """{_docline(spec.text)} for one sample or a batch."""',
                  f"        return {name}Function.apply({', '.join([x] + ['self.' + p for p in params])})"]
        return "\n".join(lines) + "\n"

    def _jax(self) -> str:
        spec, name = self.spec, self.name
        args = self._signature(spec)
        x = spec.input.name
        one, batch = self._dims()
        sample = spec.concrete(spec.input.shape)
        pick = f"update_output_batch if {x}.ndim == {batch} else update_output"
        lines = [f"inputShape = {sample!r}  # one sample; a batch adds a leading axis", "", "",
                 "@jax.custom_vjp",
                 f"def {name}({', '.join(args)}):",
                 f'    """{_docline(spec.text)}, its vjp from derive\'s proved gradients (one sample {sample} '
                 f'or a batch).' + (" The target gets no gradient (zeros)." if spec.target is not None else "")
                 + '"""',
                 f"    if {x}.ndim not in ({one}, {batch}) or tuple({x}.shape[{x}.ndim - {one}:]) != {sample!r}:",
                 f"        raise ValueError(f'{name}: the input must have shape {sample} or (batch, *{sample}), "
                 f"got {{{x}.shape}}')",
                 f"    return ({pick})({', '.join(args)})", "", "",
                 f"def _{name}_fwd({', '.join(args)}):"]
        if spec.is_criterion:
            lines += [f"    return {name}({', '.join(args)}), ({', '.join(args)},)", "", "",
                      f"def _{name}_bwd(residuals, grad_output):",
                      f"    {', '.join(args)}, = residuals",
                      f"    kernel = update_grad_input_batch if {x}.ndim == {batch} else update_grad_input",
                      f"    return (grad_output * kernel({', '.join(args)}),"
                      + (f" jnp.zeros_like({spec.target.name}))" if spec.target is not None else ")")]
        else:
            y, g = spec.output.name, grad_output_name(spec)
            lines += [f"    {y} = {name}({', '.join(args)})",
                      f"    return {y}, ({', '.join(args + [y])})", "", "",
                      f"def _{name}_bwd(residuals, {g}):",
                      f"    {', '.join(args + [y])} = residuals",
                      f"    kernel = backward_batch if {x}.ndim == {batch} else backward",
                      f"    return kernel({', '.join(args + [y, g])})" + (",  # a tuple: one cotangent per argument"
                                                                          if not spec.parameters else "")]
        lines += ["", "", f"{name}.defvjp(_{name}_fwd, _{name}_bwd)"]
        params = spec.parameters
        if not params and not spec.is_criterion:  # the same call for every layer: f(x, *init(key))
            lines += ["", "", "def init(key):", '    """No parameters: ()."""', "    return ()"]
        if params:
            s = 1 / math.sqrt(math.prod(sample))
            lines += ["", "",
                      "def init(key):",
                      f'    """({", ".join(p.name for p in params)}): each drawn from U(-s, s), '
                      's = 1/sqrt(input size per sample), as derive.nn\'s modules are."""',
                      f"    s = {s!r}",
                      f"    keys = jax.random.split(key, {len(params)})",
                      "    return (" + ", ".join(
                          f"jax.random.uniform(keys[{k}], {spec.concrete(p.shape)!r}, minval=-s, maxval=s)"
                          for k, p in enumerate(params)) + ("," if len(params) == 1 else "") + ")"]
        return "\n".join(lines) + "\n"


def _guarded(lines: list[str], guards: list[str]) -> list[str]:
    """The backward's statements, each computed only if a gradient that reads it is asked for.

    The k-th result (``grad_...``, the k-th assignment to a ``grad_`` name) is wanted when
    ``guards[k]`` holds; a temporary is computed when any result that reads it is wanted."""
    targets = [line.partition(" = ")[0] for line in lines]
    results = [t for t in targets if t.startswith("grad_")]
    users: dict[str, set[int]] = {}
    for line, target in zip(reversed(lines), reversed(targets)):
        if target in results:
            users[target] = {results.index(target)}
        for name in re.findall(r"\b_t\d+\b|\b_shifted\b", line.partition(" = ")[2]):
            users.setdefault(name, set()).update(users.get(target, set()))
    out: list[str] = []
    block: str | None = None
    unset = [" = ".join(results) + " = None"]  # before the first guarded statement
    for line, target in zip(lines, targets):
        wanted = users.get(target)
        if line.startswith("return ") or wanted is None or len(wanted) == len(results):
            out.append(line)
            block = None
            continue
        condition = " or ".join(guards[k] for k in sorted(wanted))
        out += unset
        unset = []
        if block == condition:
            out[-1] += f"\n        {line}"
        else:
            out.append(f"if {condition}:\n        {line}")
            block = condition
    return out


# The element-wise helpers the kernels call, as derive.nn.functional defines them.
_HELPERS = {
    "torch": {
        "relu": 'def relu(z):\n    """max(z, 0)."""\n    return torch.relu(z)\n',
        "sigmoid": 'def sigmoid(z):\n    """1 / (1 + exp(-z))."""\n    return torch.sigmoid(z)\n',
        "softplus": 'def softplus(z):\n    """log(1 + exp(z)), computed stably."""\n'
                    '    return torch.logaddexp(torch.zeros_like(z), z)\n',
        "step": 'def step(z):\n    """[z > 0] as 0.0 or 1.0: relu\'s derivative, 0 at z = 0 as Torch takes it."""\n'
                '    return (z > 0).to(z.dtype)\n',
        "window": 'def window(array, indices):\n'
                  '    """array[indices] for integer index tensors that may run outside it: 0 there (im2col)."""\n'
                  '    inside = True\n'
                  '    clipped = []\n'
                  '    for axis, index in enumerate(indices):\n'
                  '        inside = inside & (index >= 0) & (index < array.shape[axis])\n'
                  '        clipped.append(index.clamp(0, array.shape[axis] - 1))\n'
                  '    return array[tuple(clipped)] * inside\n',
    },
    "jax": {
        "relu": 'def relu(z):\n    """max(z, 0)."""\n    return jnp.maximum(z, 0)\n',
        "sigmoid": 'def sigmoid(z):\n    """1 / (1 + exp(-z))."""\n    return jax.nn.sigmoid(z)\n',
        "softplus": 'def softplus(z):\n    """log(1 + exp(z)), computed stably."""\n    return jnp.logaddexp(0, z)\n',
        "step": 'def step(z):\n    """[z > 0] as 0.0 or 1.0: relu\'s derivative, 0 at z = 0 as Torch takes it."""\n'
                '    return (z > 0).astype(z.dtype)\n',
        "window": 'def window(array, indices):\n'
                  '    """array[indices] for integer index arrays that may run outside it: 0 there (im2col)."""\n'
                  '    inside = True\n'
                  '    clipped = []\n'
                  '    for axis, index in enumerate(indices):\n'
                  '        inside = inside & (index >= 0) & (index < array.shape[axis])\n'
                  '        clipped.append(jnp.clip(index, 0, array.shape[axis] - 1))\n'
                  '    return array[tuple(clipped)] * inside\n',
    },
}
