"""A program (a layer of several statements) as a Python file: numpy kernels and a Module.

The forward kernel computes the statements in order and returns every value (the
backward reads them); the backward kernels compute the walk's gradients in reverse
(:func:`derive.symbolic.program.walk`), each lowered by the one back end,
:class:`derive.lowering.Lowering`.  Several inputs or outputs make a table module, as
Torch7's: ``forward`` takes a list of arrays and returns a list, ``backward`` takes a
list of gradOutputs and ``gradInput`` is a list.  A program ending in one number is a
criterion (``forward(input, target)`` is the loss, ``backward(input, target)`` gradInput,
its parameters' gradients accumulated).
"""

from __future__ import annotations

import math

import sympy as sp

from .generate import HEADER, _docline
from .lowering import Lowering, helpers_used
from .symbolic.layer import shift_invariant
from .symbolic.program import Program, bar, given_name, program_sizes, stable_log, through_max, walk

#: The index of samples in a batch kernel, and the batch size's name there.
SAMPLE = sp.Symbol("_s", integer=True, positive=True)
BATCH = sp.Symbol("_B", integer=True, positive=True)


def _var(name: str) -> str:
    """The Python name of an array of the walk (values keep their own names)."""
    for prefix, python in ((r"\bar{", "_d_"), (r"\overline{", "_d_"), ("g^{", "_g_")):
        if name.startswith(prefix):
            return python + name[len(prefix):-1]
    return name


def _name(element: sp.Expr) -> str:
    return element.base.name if isinstance(element, sp.Indexed) else element.name


class ProgramWriter:
    """Writes the module of a :class:`Program`."""

    # parameters that are numbers given to the kernels, never differentiated (a constructor's eps)
    constants: frozenset = frozenset()

    def __init__(self, program: Program, name: str) -> None:
        self.program, self.name = program, name
        self.adjoints = walk(program)
        self.values = {v: k for k, v in program_sizes(program).items()}  # size symbol -> its value
        self.batched = program.batched
        # An intermediate whose gradient collapses to a proved short form (Ninja's dlogits,
        # (probs - onehot) / n) is computed from it: the chain after it would divide by
        # probabilities that underflow to 0 (0 / 0) where logits are large.
        self.collapsed = {_name(step.lhs.variables[0]): step.chain[0] for step in through_max(program)
                          if _name(step.lhs.variables[0]) in self.batched}
        self.needed = self._needed()

    def _needed(self) -> set[str]:
        """The intermediates whose gradient the inputs' and parameters' gradients read."""
        out: set[str] = set()
        todo = [n for n in self.program.inputs + self.program.parameters
                if n in self.adjoints and n not in self.constants]
        while todo:
            for c in self.adjoints[todo.pop()].parts:
                name = c.statement.name
                if name not in out and name in self.adjoints:
                    out.add(name)
                    if name not in self.collapsed:
                        todo.append(name)
        return out

    # -- expressions ---------------------------------------------------------------------
    def _arrays(self) -> dict[str, str]:
        names = {}
        for n in self.program.shapes:
            names[n] = n
            names[bar(n)] = _var(bar(n))
            names[given_name(n)] = _var(given_name(n))
        names[str(BATCH)] = str(BATCH)
        return names

    def _batch(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` over a batch: each batched array gains the sample index first."""
        batched = set()
        for n in self.batched:
            batched |= {n, bar(n), given_name(n), f"_shifted_{n}"}

        mapping = {e: sp.IndexedBase(e.base.name, real=True)[(SAMPLE,) + tuple(e.indices)]
                   for e in expr.atoms(sp.Indexed) if e.base.name in batched}
        labels = {e.base.label for e in expr.atoms(sp.Indexed)}
        mapping.update({s: sp.IndexedBase(s.name, real=True)[SAMPLE] for s in expr.atoms(sp.Symbol)
                        if s.name in batched and not s.is_integer and s not in labels})
        return expr.xreplace(mapping)

    def _reads_batched(self, expr: sp.Expr) -> bool:
        names = {e.base.name for e in expr.atoms(sp.Indexed)} | {s.name for s in expr.free_symbols
                                                                if isinstance(s, sp.Symbol)}
        return any(n in self.batched or n in {bar(b) for b in self.batched} for n in names)

    # -- kernels --------------------------------------------------------------------------
    def _kernel(self, name: str, args: list[str], body: list[tuple[str, str, sp.Expr, tuple, tuple]],
                doc: str, returns: str | None, batch: bool) -> str:
        """Each (target, op, expression, axes, shape) lowered and assigned (=, +=) in order."""
        lines = self._prologue(args)
        if batch:
            lines.append(f"{BATCH} = {self.program.inputs[0]}.shape[0]")
        lowering = self._lowering()
        # the inputs' and outputs' sizes (None for the batch's): a read past an array's end
        # (concat, JoinTable) is a window, 0 there
        for n in self.program.inputs + self.program.outputs:
            shape = ((None,) if batch and n in self.batched else ()) + self._known_shape(n)
            lowering.shapes.update({n: shape, bar(n): shape, given_name(n): shape})
        for number, (target, op, expr, axes, shape) in enumerate(body):
            if op == "code":  # a line of its own (a shifted operand), then an array like the others
                lines.append(f"{target} = {expr}")
                lowering.arrays[target] = target
                continue
            own = {a: sp.Symbol(f"_f{number}_{k}", integer=True, positive=True) for k, a in enumerate(axes)}
            expr, axes = expr.xreplace(own), tuple(own[a] for a in axes)
            for index, size in zip(axes, shape):
                lowering.ranges[index] = size
            code = lowering.result(expr, axes)
            lines += lowering.lines
            lowering.lines = []
            if op == "=":
                lines.append(f"{target} = {code}")
            else:
                lines.append(f"{target} += {code} if scale == 1 else scale * {code}")
        if returns:
            lines.append(f"return {returns}")
        text = "\n".join(f"    {line}" for line in self._finish(lines))
        return f'def {name}({", ".join(args)}):\n    """{doc}"""\n{text}\n'

    def _known_shape(self, name: str) -> tuple:
        """The sizes of ``name`` the lowering may rely on (derive.generate_sizes: none)."""
        return tuple(self.program.shapes[name])

    def _statement_sizes(self, spec) -> dict:
        """What a statement's size symbols become in the kernels: their numbers here."""
        return spec.sizes

    # -- what another array module (derive.export_program) prints otherwise --------------
    def _prologue(self, args: list[str]) -> list[str]:
        return [f"xp = np if {args[0]}.__class__ is ndarray else namespace({args[0]})"]

    def _lowering(self) -> Lowering:
        return Lowering(self._arrays(), {})

    def _finish(self, lines: list[str]) -> list[str]:
        return lines

    def _shape(self, name: str, batch: bool) -> tuple:
        shape = tuple(self.program.shapes[name])
        return ((str(BATCH),) if batch and name in self.batched else ()) + shape

    def _shifted(self, statement, batch: bool) -> list[tuple[str, str]]:
        """(operand, numpy code of it lowered by its largest element) for each operand the
        statement exponentiates and is proved not to depend on a shift of (softmax, log-softmax:
        exp(z_i - c) / sum exp(z_k - c)): c is the largest element of a vector, or of a row
        of a matrix (a sample's, never the batch's), so exp never overflows."""
        out = []
        spec = statement.spec
        for name in statement.operands:
            shape = self.program.shapes[name]
            if len(shape) not in (1, 2):
                continue
            row = spec.indices[0] if len(shape) == 2 and spec.indices else None
            accesses = [a for a in spec.expr.atoms(sp.Indexed) if a.base.name == name]
            if len(shape) == 2 and (row is None or any(a.indices[0] != row for a in accesses)):
                continue  # the shift runs along rows only where every access is in the output's row
            if not shift_invariant(spec.expr, name, row):
                continue
            lead = 1 if batch and name in self.batched else 0
            axis = lead + len(shape) - 1
            if len(shape) == 1 and not lead:
                out.append((name, f"{name} - {name}.max()"))
            else:
                out.append((name, f"{name} - {name}.max(axis={axis}, keepdims=True)"))
        return out

    def forward_kernel(self, batch: bool) -> str:
        p = self.program
        body = []
        for s in p.statements:
            spec = s.spec
            stable = stable_log(p, s)  # log(probs) as norm_logits - log(counts_sum): finite
            expr = spec.expr.xreplace(self._statement_sizes(spec)) if stable is None else stable.xreplace(self.values)
            for name, code in self._shifted(s, batch):
                shifted = f"_shifted_{name}"
                body.append((shifted, "code", code, (), ()))
                expr = expr.xreplace({a: sp.IndexedBase(shifted, real=True)[a.indices]
                                      for a in expr.atoms(sp.Indexed) if a.base.name == name})
            axes = tuple(spec.indices)
            if batch and s.name in self.batched:
                expr, axes = self._batch(expr), (SAMPLE,) + axes
            body.append((s.name, "=", expr, axes, self._shape(s.name, batch)))
        values = ", ".join(s.name for s in p.statements)
        args = list(p.inputs) + ([p.target] if p.target else []) + list(p.parameters)
        doc = "The statements in order; returns every value (the backward reads them)."
        return self._kernel("update_output" + ("_batch" if batch else ""), args, body, doc,
                            f"({values},)" if len(p.statements) == 1 else f"({values})", batch)

    def _adjoint_body(self, name: str, batch: bool, scale: bool) -> tuple:
        adjoint = self.adjoints[name]
        if name in self.collapsed:
            expr = self.collapsed[name].xreplace(self.values)
            if batch:
                expr = self._batch(expr)
                if self.program.is_criterion:  # the loss of a batch is the mean of the samples'
                    expr = expr / BATCH
                return expr, (SAMPLE,) + tuple(adjoint.indices)
            return expr, tuple(adjoint.indices)
        terms = []
        if adjoint.given:
            terms.append(sp.IndexedBase(given_name(name), real=True)[adjoint.indices]
                         if adjoint.indices else sp.Symbol(given_name(name), real=True))
        for c, term in zip(adjoint.parts, adjoint.terms):
            term = term.xreplace(self.values)
            if batch:
                mine = self._batch(term)
                if self.program.is_criterion and c.statement.name == self.program.outputs[0] \
                        and c.statement.name in self.batched:
                    mine = mine / BATCH  # the loss of a batch is the mean of the samples' losses
                if name not in self.batched and mine != term:
                    mine = sp.Sum(mine, (SAMPLE, 1, BATCH))
                term = mine
            terms.append(term)
        expr = sp.Add(*terms)
        axes = tuple(adjoint.indices)
        if batch and name in self.batched:
            axes = (SAMPLE,) + axes
        if batch and name not in self.batched and expr.has(SAMPLE) and not any(
                isinstance(t, sp.Sum) for t in terms):
            raise ValueError(f"cannot batch the gradient of {name}")
        return expr, axes

    def backward_kernel(self, kind: str, batch: bool) -> str:
        """``kind``: "grad_input", "acc_grad_parameters", "backward" (both), or "gradients":
        every input's and parameter's gradient returned as fresh arrays (the exports')."""
        p = self.program
        body = []
        for s in reversed(p.statements):
            if s.name in self.needed:
                expr, axes = self._adjoint_body(s.name, batch, False)
                body.append((_var(bar(s.name)), "=", expr, axes, self._shape(s.name, batch)))
        returns = None
        outs = []
        if kind in ("grad_input", "backward", "gradients"):
            for x in p.inputs:
                expr, axes = self._adjoint_body(x, batch, False)
                body.append((f"_grad_{x}", "=", expr, axes, self._shape(x, batch)))
                outs.append(f"_grad_{x}")
            returns = outs[0] if len(outs) == 1 else "[" + ", ".join(outs) + "]"
        if kind in ("acc_grad_parameters", "backward"):
            for w in p.parameters:
                if w not in self.adjoints or w in self.constants:
                    continue
                expr, axes = self._adjoint_body(w, batch, True)
                body.append((f"grad_{w}", "+=", expr, axes, self._shape(w, batch)))
        if kind == "gradients":
            for w in p.parameters:
                expr, axes = self._adjoint_body(w, batch, True)
                body.append((f"_grad_{w}", "=", expr, axes, self._shape(w, batch)))
                outs.append(f"_grad_{w}")
            returns = "(" + ", ".join(outs) + ",)"
        args = list(p.inputs) + ([p.target] if p.target else []) + list(p.parameters)
        args += [s.name for s in p.statements]
        if not p.is_criterion:
            args += [_var(given_name(o)) for o in p.outputs]
        if kind not in ("grad_input", "gradients") and p.parameters:
            args += ["scale"] + [f"grad_{w}" for w in p.parameters if w not in self.constants]
        doc = {"grad_input": "gradInput: the backward walk, statements in reverse.",
               "gradients": "Every input's and parameter's gradient: the backward walk, statements in reverse.",
               "acc_grad_parameters": "Adds scale times each parameter's gradient (the backward walk).",
               "backward": "updateGradInput and accGradParameters in one walk."}[kind]
        return self._kernel(f"{kind}{'_batch' if batch else ''}", args, body, doc, returns, batch)

    # -- the file -----------------------------------------------------------------------
    def source(self) -> str:
        p = self.program
        blocks = []
        for batch in (False, True):
            blocks.append(self.forward_kernel(batch))
            blocks.append(self.backward_kernel("grad_input", batch))
            if p.parameters:
                blocks.append(self.backward_kernel("acc_grad_parameters", batch))
                blocks.append(self.backward_kernel("backward", batch))
        used = "".join(blocks)
        helpers = helpers_used(used)
        base = "Criterion" if p.is_criterion and not p.parameters else "Module"
        imports = (f"import numpy as np\n\nfrom derive.nn import {base}\nfrom derive.nn._backend import namespace\n"
                   "from derive.nn.module import check_array\n")
        if helpers:
            imports += f"from derive.nn.functional import {', '.join(helpers)}\n"
        statements = "\n".join(f"    {s.text}" for s in p.statements)
        shapes = ", ".join(f"{n} {p.shapes[n]}" for n in p.inputs + p.parameters + ((p.target,) if p.target else ()))
        doc = (f'"""{self.name}: a layer written as a program:\n\n{statements}\n\nDerived and proved by derive '
               "statement by statement; the kernels are the forward pass and the backward walk,\n"
               f"lowered to numpy. Shapes (one sample): {shapes}.\n"
               "A batch adds a leading axis to every input" + (" and the target" if p.target else "")
               + '.\n"""\n')
        return (HEADER + doc + "\n" + imports + "\nndarray = np.ndarray\n\n\n" + "\n\n".join(blocks)
                + "\n\n" + self._class(base))

    def _class(self, base: str) -> str:
        p = self.program
        params = p.parameters
        several_in, several_out = len(p.inputs) > 1, len(p.outputs) > 1
        positions = [next(k for k, s in enumerate(p.statements) if s.name == o) for o in p.outputs]
        inputs = ", ".join(p.inputs)
        sample = math.prod(math.prod(p.shapes[x]) for x in p.inputs)
        lines = [f"class {self.name}({base}):",
                 f'    """{_docline("; ".join(s.text for s in p.statements))}"""', "",
                 f"    inputShapes = {tuple(p.shapes[x] for x in p.inputs)!r}",
                 f"    inputShape = {p.shapes[p.inputs[0]]!r}" if not several_in else "    inputShape = None",
                 f"    outputShapes = {tuple(p.shapes[o] for o in p.outputs)!r}",
                 f"    inputNames = {tuple(p.inputs)!r}",
                 f"    outputNames = {tuple(p.outputs)!r}"]
        if p.target:
            lines.append(f"    targetShape = {p.shapes[p.target]!r}")
        if params:
            slots = ", ".join(f"({w!r}, 'grad{w}')" for w in params)
            lines += [f"    _parameterSlots = ({slots}{',' if len(params) == 1 else ''})"]
        lines += ["", "    def __init__(self, rng=None) -> None:", "        super().__init__()",
                  "        self._values = None"]
        for w in params:
            lines += [f"        self.{w} = np.zeros({p.shapes[w]!r})", f"        self.grad{w} = np.zeros({p.shapes[w]!r})"]
        if params:
            lines += ["        self._flatten()", "        self.reset(rng=rng)", "",
                      "    def reset(self, rng=None):",
                      '        """Draw every parameter in place from U(-s, s), s = 1/sqrt(input size per sample)."""',
                      f"        s = {1 / math.sqrt(sample)!r}",
                      "        rng = np.random.default_rng(rng)",
                      f"        xp = namespace(self.{params[0]})"]
            lines += [f"        self.{w}[...] = xp.asarray(rng.uniform(-s, s, self.{w}.shape))" for w in params]
            lines += ["        return self", "",
                      "    def parameters(self):",
                      '        """([parameters], [their gradients]), in order of first appearance."""',
                      f"        return [{', '.join('self.' + w for w in params)}], "
                      f"[{', '.join('self.grad' + w for w in params)}]"]
        unpack = ("        inputs = self._table(input, 'input', self.inputShapes)" if several_in else
                  "        inputs = (input,)")
        lines += ["", "    def _table(self, value, name, shapes):",
                  '        """A list (or tuple) of arrays, one per entry of ``shapes``."""',
                  "        if not isinstance(value, (list, tuple)) or len(value) != len(shapes):",
                  f"            raise ValueError(f'{self.name}: {{name}} must be a list of {{len(shapes)}} arrays, got '",
                  "                             f'{type(value).__name__}')",
                  "        return tuple(value)", "",
                  "    def _batch(self, inputs):",
                  '        """False for one sample, True for a batch (the same leading size on every input)."""',
                  "        batch = None",
                  "        for k, (value, shape) in enumerate(zip(inputs, self.inputShapes)):",
                  f"            check_array('{self.name}', 'input', value, self._arrayClass)",
                  "            if value.shape == shape:",
                  "                now = None",
                  "            elif value.shape[1:] == shape and value.shape[0] > 0:",
                  "                now = value.shape[0]",
                  "            else:",
                  f"                raise ValueError(f'{self.name}: input {{k + 1}} must have shape {{shape}} or "
                  "(batch, *{shape}), got {value.shape}')",
                  "            if k and now != batch:",
                  f"                raise ValueError('{self.name}: the inputs must all be one sample or all "
                  "a batch of the same size')",
                  "            batch = now",
                  "        return batch is not None"]
        param_args = "".join(f", self.{w}" for w in params)
        grad_args = "".join(f", self.grad{w}" for w in params)
        target_arg = ", target" if p.target else ""
        if p.is_criterion:
            lines += ["", "    def _run(self, input, target):", unpack, "        batch = self._batch(inputs)"]
            if p.target:
                lines += [f"        check_array('{self.name}', 'target', target, self._arrayClass)",
                          "        want = ((inputs[0].shape[0],) if batch else ()) + self.targetShape",
                          "        if target.shape != want:",
                          f"            raise ValueError(f'{self.name}: target must have shape {{want}}, got "
                          "{target.shape}')"]
            lines += ["        return inputs, batch", "",
                      "    def forward(self, input, target=None):",
                      '        """The loss (for a batch, the mean of the samples\' losses)."""',
                      "        return self.updateOutput(input, target)", "",
                      "    def updateOutput(self, input, target=None):",
                      f"        inputs, batch = self._run(input, target)",
                      "        kernel = update_output_batch if batch else update_output",
                      f"        self._values = kernel(*inputs{target_arg}{param_args})",
                      f"        self.output = float(self._values[{positions[0]}]" +
                      (".mean()) if batch else float(self._values[{0}])".format(positions[0])),
                      "        return self.output", "",
                      "    def updateGradInput(self, input, target=None):",
                      '        """dJ/dinput (forward first: it reads the values of the last forward)."""',
                      f"        inputs, batch = self._run(input, target)",
                      "        if self._values is None:",
                      "            self.updateOutput(input, target)",
                      "        kernel = grad_input_batch if batch else grad_input",
                      f"        self.gradInput = kernel(*inputs{target_arg}{param_args}, *self._values)",
                      "        return self.gradInput"]
            if params:
                lines += ["", "    def backward(self, input, target=None, scale=1.0):",
                          '        """gradInput, and scale times each parameter\'s gradient added to it."""',
                          f"        inputs, batch = self._run(input, target)",
                          "        if self._values is None:",
                          "            self.updateOutput(input, target)",
                          "        kernel = backward_batch if batch else backward",
                          f"        self.gradInput = kernel(*inputs{target_arg}{param_args}, *self._values, "
                          f"scale{grad_args})",
                          "        return self.gradInput", "",
                          "    def accGradParameters(self, input, target=None, scale=1.0):",
                          f"        inputs, batch = self._run(input, target)",
                          "        kernel = acc_grad_parameters_batch if batch else acc_grad_parameters",
                          f"        kernel(*inputs{target_arg}{param_args}, *self._values, scale{grad_args})"]
            return "\n".join(lines) + "\n"
        outs = ", ".join(f"self._values[{k}]" for k in positions)
        grads = ("        grads = self._table(gradOutput, 'gradOutput', self.outputShapes)" if several_out else
                 "        grads = (gradOutput,)")
        lines += ["", "    def updateOutput(self, input):",
                  '        """The outputs (a list when there are several) for one sample or a batch."""',
                  unpack,
                  "        kernel = update_output_batch if self._batch(inputs) else update_output",
                  f"        self._values = kernel(*inputs{param_args})",
                  f"        self.output = [{outs}]" if several_out else f"        self.output = {outs}",
                  "        return self.output", "",
                  "    def _grads(self, input, gradOutput):",
                  unpack, grads,
                  "        batch = self._batch(inputs)",
                  "        if self._values is None:",
                  f"            raise ValueError('{self.name}: call forward(input) before backward')",
                  f"        for value, k in zip(grads, {tuple(positions)!r}):",
                  f"            check_array('{self.name}', 'gradOutput', value, self._arrayClass)",
                  "            if value.shape != self._values[k].shape:",
                  f"                raise ValueError(f'{self.name}: gradOutput must have the shape of the output "
                  "of forward(input), {self._values[k].shape}, got {value.shape}')",
                  "        return inputs, grads, batch", "",
                  "    def updateGradInput(self, input, gradOutput):",
                  '        """gradInput (a list when there are several inputs); reads the values of the last forward."""',
                  "        inputs, grads, batch = self._grads(input, gradOutput)",
                  "        kernel = grad_input_batch if batch else grad_input",
                  f"        self.gradInput = kernel(*inputs{param_args}, *self._values, *grads)",
                  "        return self.gradInput"]
        if params:
            lines += ["", "    def accGradParameters(self, input, gradOutput, scale=1.0):",
                      '        """Add scale * dJ/dparameter to each gradient."""',
                      "        inputs, grads, batch = self._grads(input, gradOutput)",
                      "        kernel = acc_grad_parameters_batch if batch else acc_grad_parameters",
                      f"        kernel(*inputs{param_args}, *self._values, *grads, scale{grad_args})", "",
                      "    def backward(self, input, gradOutput, scale=1.0):",
                      '        """updateGradInput then accGradParameters, in one walk; returns gradInput."""',
                      "        inputs, grads, batch = self._grads(input, gradOutput)",
                      "        kernel = backward_batch if batch else backward",
                      f"        self.gradInput = kernel(*inputs{param_args}, *self._values, *grads, scale{grad_args})",
                      "        return self.gradInput"]
        return "\n".join(lines) + "\n"


def program_source(program: Program, name: str) -> str:
    """The text of a Python file defining ``class <name>`` for the program."""
    return ProgramWriter(program, name).source()
