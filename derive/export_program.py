"""A program (a layer of several statements, one a line) as a PyTorch or JAX file.

The kernels are :class:`derive.generate_program.ProgramWriter`'s, the forward pass and the
backward walk, printed by the same lowering as the one-expression exports
(:mod:`derive.export`): ``torch`` gives ``<Name>Function(torch.autograd.Function)`` and a
``<Name>(torch.nn.Module)`` holding the parameters; ``jax`` a ``jax.custom_vjp`` function
``<Name>(*inputs, [target,] *parameters)`` and ``init(key)``.  Several inputs are several
arguments; several outputs a tuple.  A program ending in the loss J is a criterion with
parameters: the function returns the loss (a batch's: the mean of its samples' losses).
"""

from __future__ import annotations

import math
import re

from .export import _NAMESPACE, FRAMEWORKS, JaxLowering, TorchLowering
from .generate import _docline
from .generate_program import ProgramWriter
from .lowering import Lowering
from .symbolic.program import Program, parse_program


def program_export_source(text: str, shapes=None, *, framework: str = "torch", input="x",
                          target: str | None = None, name: str = "Layer", outputs=None) -> str:
    """The text of a Python file with the program ``text`` for ``framework`` ("torch" or "jax")."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"name must be a Python class name, got {name!r}")
    program = parse_program(text, shapes, input=input, target=target, outputs=outputs)
    taken = {"forward", "apply", "init", "jax", "jnp", "torch", "math", "values", "saved", "grads", "kernel",
             "batch", "ctx", name, f"{name}Function"}
    for array in program.shapes:
        if array in taken:
            raise ValueError(f"cannot export to {framework}: the array name {array!r} is taken in the exported "
                             "file; rename it")
    try:
        return ProgramExport(program, name, framework).source()
    except ValueError as error:  # the lowering's "cannot lower ...": not expressible here
        raise ValueError(f"cannot export the program to {framework}: {error}") from None


class ProgramExport(ProgramWriter):
    """The program's kernels and its torch.autograd.Function / jax.custom_vjp."""

    def __init__(self, program: Program, name: str, framework: str) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
        super().__init__(program, name)
        self.framework = framework

    def _prologue(self, args: list[str]) -> list[str]:
        return []

    def _lowering(self) -> Lowering:
        if self.framework == "torch":
            return TorchLowering(self._arrays(), {}, f"{self.program.inputs[0]}.device")
        return JaxLowering(self._arrays(), {})

    def _finish(self, lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            if self.framework == "torch":
                # the shift of a softmax is a constant of the proof: held out of the gradient
                line = re.sub(r"\.max\(axis=(-?\d+), keepdims=True\)", r".detach().amax(dim=\1, keepdim=True)", line)
                line = line.replace(".max()", ".detach().max()")
            else:
                line = re.sub(r"= (\w+) - (\w+)\.max\((.*)\)$", r"= \1 - jax.lax.stop_gradient(\2.max(\3))", line)
            out.append(re.sub(r"\bxp\.", _NAMESPACE[self.framework], line))
        return out

    def _arguments(self) -> list[str]:
        p = self.program
        return list(p.inputs) + ([p.target] if p.target else []) + list(p.parameters)

    def source(self) -> str:
        blocks = []
        for batch in (False, True):
            blocks += [self.forward_kernel(batch), self.backward_kernel("gradients", batch)]
        used = "".join(blocks)
        from .export import _HELPERS

        helpers = [_HELPERS[self.framework][f] for f in ("relu", "sigmoid", "softplus", "step", "window")
                   if re.search(rf"(?<![.\w]){f}\(", used)]
        p = self.program
        statements = "\n".join(f"    {s.text}" for s in p.statements)
        shapes = ", ".join(f"{n} {p.shapes[n]}" for n in p.inputs + p.parameters + ((p.target,) if p.target else ()))
        kind = "torch.autograd.Function and torch.nn.Module" if self.framework == "torch" else "jax.custom_vjp"
        doc = (f'"""{self.name}: a layer written as a program:\n\n{statements}\n\nDerived and proved by derive '
               "statement by statement; the kernels are the forward pass and the backward walk,\n"
               f"lowered to {'torch' if self.framework == 'torch' else 'jax.numpy'} ({kind}). "
               f"Shapes (one sample): {shapes}.\n"
               "A batch adds a leading axis to every input" + (" and the target" if p.target else "") + '.\n"""\n')
        header = f"# generated by `derive layer --export {self.framework}` — do not edit; regenerate it instead.\n"
        imports = "import torch\n" if self.framework == "torch" else "import jax\nimport jax.numpy as jnp\n"
        tail = self._torch() if self.framework == "torch" else self._jax()
        return (header + doc + "\n" + imports + "\n\n" + "".join(h + "\n\n" for h in helpers)
                + "\n\n".join(blocks) + "\n\n" + self._is_batch() + "\n\n" + tail)

    def _is_batch(self) -> str:
        p = self.program
        shapes = tuple(p.shapes[x] for x in p.inputs)
        target = p.shapes[p.target] if p.target else None
        lines = ["def _is_batch(inputs, target=None):",
                 '    """False for one sample, True for a batch (the same leading size on every input); '
                 'raises on any other shape."""',
                 "    batch = None",
                 f"    for k, (value, shape) in enumerate(zip(inputs, {shapes!r})):",
                 "        if tuple(value.shape) == shape:",
                 "            now = None",
                 "        elif tuple(value.shape[1:]) == shape and value.shape[0] > 0:",
                 "            now = value.shape[0]",
                 "        else:",
                 f"            raise ValueError(f'{self.name}: input {{k + 1}} must have shape {{shape}} or "
                 "(batch, *{shape}), got {tuple(value.shape)}')",
                 "        if k and now != batch:",
                 f"            raise ValueError('{self.name}: the inputs must all be one sample or all a batch of "
                 "the same size')",
                 "        batch = now"]
        if target is not None:
            lines += [f"    want = ((batch,) if batch else ()) + {target!r}",
                      "    if target is not None and tuple(target.shape) != want:",
                      f"        raise ValueError(f'{self.name}: the target must have shape {{want}}, "
                      "got {tuple(target.shape)}')"]
        lines.append("    return batch is not None")
        return "\n".join(lines) + "\n"

    def _outputs(self) -> str:
        """The kernel's values (every statement's) picked down to the outputs."""
        p = self.program
        positions = [next(k for k, s in enumerate(p.statements) if s.name == o) for o in p.outputs]
        picked = ", ".join(f"values[{k}]" for k in positions)
        if self.program.is_criterion:  # a batch's loss is the mean of its samples' (the kernels' gradients are)
            return f"values[{positions[0]}].mean()"
        return picked if len(positions) == 1 else f"({picked})"

    def _torch(self) -> str:
        p, name = self.program, self.name
        args = self._arguments()
        n_in, target = len(p.inputs), p.target
        lines = [f"class {name}Function(torch.autograd.Function):",
                 f'    """{_docline("; ".join(s.text for s in p.statements))}"""', "",
                 "    @staticmethod",
                 f"    def forward(ctx, {', '.join(args)}):",
                 f"        batch = _is_batch(({', '.join(p.inputs)},){', ' + target if target else ''})",
                 f"        values = (update_output_batch if batch else update_output)({', '.join(args)})",
                 f"        ctx.save_for_backward({', '.join(args)}, *values)",
                 "        ctx.batch = batch",
                 f"        return {self._outputs()}", "",
                 "    @staticmethod",
                 "    def backward(ctx, *grad_outputs):",
                 "        saved = ctx.saved_tensors",
                 "        kernel = gradients_batch if ctx.batch else gradients"]
        if p.is_criterion:
            lines += ["        grads = [grad_outputs[0] * g for g in kernel(*saved)]"]
        else:
            lines += ["        grads = list(kernel(*saved, *grad_outputs))"]
        if target:
            lines += ["        if ctx.needs_input_grad[%d]:" % n_in,
                      "            raise RuntimeError('the gradient with respect to the target is not derived')",
                      f"        grads.insert({n_in}, None)"]
        lines += ["        return tuple(grads)"]
        sample = math.prod(math.prod(p.shapes[x]) for x in p.inputs)
        inputs = ", ".join(p.inputs) + (f", {target}" if target else "")
        lines += ["", "",
                  f"class {name}(torch.nn.Module):",
                  f'    """{_docline("; ".join(s.text for s in p.statements))}: parameters '
                  + (", ".join(f"{w} {p.shapes[w]}" for w in p.parameters) or "none")
                  + '; each drawn from U(-s, s), s = 1/sqrt(input size per sample), as derive.nn\'s modules are."""',
                  "", f"    inputShapes = {tuple(p.shapes[x] for x in p.inputs)!r}", "",
                  "    def __init__(self, device=None, dtype=None, generator=None) -> None:",
                  "        super().__init__()"]
        for w in p.parameters:
            lines.append(f"        self.{w} = torch.nn.Parameter(torch.empty({p.shapes[w]!r}, device=device, "
                         "dtype=dtype))")
        lines += ["        self.reset_parameters(generator)", "",
                  "    def reset_parameters(self, generator=None) -> None:",
                  '        """Draw every parameter from U(-s, s), s = 1/sqrt(input size per sample)."""',
                  f"        s = {1 / math.sqrt(sample)!r}",
                  "        with torch.no_grad():"]
        lines += [f"            self.{w}.uniform_(-s, s, generator=generator)" for w in p.parameters] or ["            pass"]
        lines += ["", f"    def forward(self, {inputs}):",
                  '        """The outputs (a tuple when there are several), or the loss."""',
                  f"        return {name}Function.apply({', '.join(list(p.inputs) + ([target] if target else []) + ['self.' + w for w in p.parameters])})"]
        return "\n".join(lines) + "\n"

    def _jax(self) -> str:
        p, name = self.program, self.name
        args = self._arguments()
        target = p.target
        x = p.inputs[0]
        lines = [f"inputShapes = {tuple(p.shapes[x] for x in p.inputs)!r}  # one sample; a batch adds a leading axis",
                 "", "",
                 "@jax.custom_vjp",
                 f"def {name}({', '.join(args)}):",
                 f'    """{_docline("; ".join(s.text for s in p.statements))}, its vjp from derive\'s proved '
                 'gradients.' + (" The target gets no gradient." if target else "") + '"""',
                 f"    values = (update_output_batch if _is_batch(({', '.join(p.inputs)},)"
                 f"{', ' + target if target else ''}) else update_output)({', '.join(args)})",
                 f"    return {self._outputs()}", "", "",
                 f"def _{name}_fwd({', '.join(args)}):",
                 f"    values = (update_output_batch if _is_batch(({', '.join(p.inputs)},)) else update_output)"
                 f"({', '.join(args)})",
                 f"    return {self._outputs()}, (({', '.join(args)},), values)", "", "",
                 f"def _{name}_bwd(residuals, cotangent):",
                 "    arguments, values = residuals",
                 f"    kernel = gradients_batch if arguments[0].ndim == {len(p.shapes[x]) + 1} else gradients"]
        if p.is_criterion:
            lines += ["    grads = [cotangent * g for g in kernel(*arguments, *values)]"]
        else:
            several = len(p.outputs) > 1
            lines += [f"    grads = list(kernel(*arguments, *values, {'*cotangent' if several else 'cotangent'}))"]
        if target:
            lines += [f"    grads.insert({len(p.inputs)}, None)  # integers or data: no cotangent"]
        lines += ["    return tuple(grads)", "", "", f"{name}.defvjp(_{name}_fwd, _{name}_bwd)"]
        sample = math.prod(math.prod(p.shapes[x]) for x in p.inputs)
        params = p.parameters
        lines += ["", "", "def init(key):",
                  f'    """({", ".join(params)}): each drawn from U(-s, s), s = 1/sqrt(input size per sample), '
                  'as derive.nn\'s modules are."""',
                  f"    s = {1 / math.sqrt(sample)!r}",
                  f"    keys = jax.random.split(key, {max(len(params), 1)})",
                  "    return (" + ", ".join(f"jax.random.uniform(keys[{k}], {p.shapes[w]!r}, minval=-s, maxval=s)"
                                         for k, w in enumerate(params)) + ("," if len(params) == 1 else "") + ")"]
        return "\n".join(lines) + "\n"
