"""The kernels of a layer written as one expression, at run-time sizes.

``derive.module_source`` prints every size as the number the layer is shown at: its module
takes inputs of that shape only.  Here the same writer keeps every size a name, bound in
each kernel's first lines from the shapes of the arrays it is given (``n = x.shape[0]``,
the parameters' from the parameters), so that one kernel takes every size, as a Torch7
module does.  A size that no array of the kernel gives (a window's, which fixes the
formula's structure) is an error in this mode.
"""

from __future__ import annotations

import re

import sympy as sp

from .generate import _Writer
from .lowering import _TEMPORARY, Lowering, in_place, into_buffer, scaled_in_place
from .generate_program import BATCH, ProgramWriter, _var
from .symbolic.language import LayerSpec, parse
from .symbolic.layer import grad_output_name, gradients
from .symbolic.program import _size_map, given_name, program_sizes


def runtime_kernels(expr: str, shapes=None, *, input="x", target: str | None = None, ranges=None,
                    constants=(), reduction: str = "mean", weight: str | None = None) -> list[str]:
    """The kernels (update_output, update_grad_input, acc_grad_parameters and backward, each for
    one sample and ``_batch``) of the layer ``expr`` with every size bound from its arrays'
    shapes at run time (a criterion's batch mean over the sum of the samples' ``weight`` where
    one is written); ValueError where a size is given by no array."""
    spec = parse(expr, shapes, input=input, target=target, ranges=ranges, constants=constants, weight=weight)
    if spec.is_criterion and spec.parameters:
        raise ValueError(f"a criterion's expression may use only its input and target; "
                         f"{spec.parameters[0].name} would be a parameter")
    writer = RuntimeSizes(spec, "Layer", reduction)
    return writer.kernels(writer.spec, "") + writer.kernels(writer.batch, "_batch")


class RuntimeSizes(_Writer):
    """The kernel writer with sizes as names bound from the arguments' shapes; a size that only
    the output has (Narrow's length, Replicate's copies) is an argument of every kernel, after
    the constants (``size_arguments``).  A kernel that returns an array (output, gradInput)
    takes last ``out``, the module's buffer of the last call (None: a new array), and computes
    its result there where one statement makes it (``xp.matmul(X, W.T, out=out)``); a parameter's
    gradient is scaled in the temporary it is added from (no second array of its size)."""

    _result: str | None = None  # what the kernel being written returns

    def _kernel(self, spec: LayerSpec, name: str, args: list[str], body, doc: str, returns: str | None) -> str:
        self._result = returns if returns in ("output", "grad_input") else None
        return super()._kernel(spec, name, args + ["out=None"] if self._result else args, body, doc, returns)

    def _finish(self, lines: list[str], lowering: Lowering) -> list[str]:
        lines = scaled_in_place(super()._finish(lines, lowering), lowering.temporaries)
        return into_buffer(lines, self._result, lowering.temporaries) if self._result else lines

    def kernels(self, spec: LayerSpec, suffix: str) -> list[str]:
        """The writer's kernels; a criterion's also ``loss_and_grad_input``: both in one pass,
        sharing what they have in common (a cross-entropy's exponentials), for a forward that
        keeps the gradient its backward will ask for."""
        out = super().kernels(spec, suffix)
        if spec.is_criterion:
            gin = gradients(spec)[spec.input.name]
            out.append(self._kernel(spec, f"loss_and_grad_input{suffix}", self._signature(spec),
                                    [("loss", "float", spec.expr, ()), ("grad_input", "=", gin.final, gin.indices)],
                                    "The loss and gradInput in one pass, sharing what they have in common.",
                                    "loss, grad_input"))
        return out

    def size_arguments(self, spec: LayerSpec) -> list[str]:
        """The sizes no input, target, parameter or constant gives, by their names in the kernels."""
        names = self._size_names(spec)
        given = {d for a in spec.arrays.values() if a.role != "output" for d in a.shape}
        return [names[d] for d in self.spec.output.shape if isinstance(d, sp.Symbol) and d in names
                and d not in given and d != spec.batch_size]

    def _signature(self, spec: LayerSpec) -> list[str]:
        return super()._signature(spec) + self.size_arguments(self.spec)

    def _size_names(self, spec: LayerSpec) -> dict[sp.Symbol, str]:
        symbols: set[sp.Symbol] = set()
        for array in spec.arrays.values():
            for d in array.shape:
                symbols |= sp.sympify(d).free_symbols
        for r in spec.ranges.values():
            symbols |= sp.sympify(r).free_symbols
        symbols.discard(spec.batch_size)
        taken = set(spec.arrays) | {grad_output_name(spec), "xp", "np", "scale", "output", "grad_input", "loss", "out"}
        names = {}
        for s in sorted(symbols, key=str):
            name = str(s)
            names[s] = name if name.isidentifier() and name not in taken else f"n_{name}"
        return names

    def _print_size(self, spec: LayerSpec, size) -> str:
        size = sp.sympify(size)
        if spec.batch_size is not None and size.has(spec.batch_size):
            if size != spec.batch_size:
                raise ValueError(f"a size {size} of the batch's is not a run-time size")
            return str(spec.batch_size)
        if size.is_Integer:
            return str(int(size))
        names = self._size_names(spec)
        text = sp.sstr(size.xreplace({s: sp.Symbol(names[s]) for s in size.free_symbols}))
        return text if text.isidentifier() else f"({text})"

    def _arrays(self, spec: LayerSpec) -> dict[str, str]:
        arrays = super()._arrays(spec)
        for name in self._size_names(spec).values():
            if name in arrays:
                raise ValueError(f"the size {name} has the name of an array")
            arrays[name] = name
        return arrays

    def _ranges(self, spec: LayerSpec) -> dict:
        return {i: self._print_size(spec, r) for i, r in spec.ranges.items()}

    def _fixed_sizes(self, spec: LayerSpec) -> dict:
        # the sizes stay symbols, renamed to what the kernel binds
        return {s: sp.Symbol(name, integer=True, positive=True) for s, name in self._size_names(spec).items()
                if name != str(s)}

    def _known_shapes(self, spec: LayerSpec) -> dict[str, tuple]:
        # the sizes as the kernels print them (an index's range is printed alike): a read whose
        # index runs past its array's axis (concat's x[i], i up to 2n) is then a zero-padded
        # window, not the whole array
        return {a.name: tuple(None if spec.batch_size is not None and sp.sympify(d).has(spec.batch_size)
                              else self._print_size(spec, d) for d in a.shape) for a in spec.arrays.values()}

    def _lowering(self, arrays: dict[str, str], ranges: dict, spec: LayerSpec):
        lowering = super()._lowering(arrays, ranges, spec)
        # each array's sizes by name: a read the window pads needs no guard at run-time sizes either
        lowering.extents = {a.name: tuple(self._print_size(spec, d) for d in a.shape) for a in spec.arrays.values()}
        lowering.extents[grad_output_name(spec)] = lowering.extents[spec.output.name]
        return lowering

    def _shape(self, spec, target, axes):
        array = {"output": spec.output, "grad_input": spec.input, "loss": spec.output}.get(target)
        if array is None:
            array = spec.arrays[target[len("grad_"):]]
        return [self._print_size(spec, d) for d in array.shape]

    def _bind_sizes(self, spec: LayerSpec, args: list[str], lines: list[str], first: int) -> list[str]:
        body = "\n".join(lines[first:])
        given: dict[str, str] = {}
        for arg in args:  # the first array that has the size as an axis gives it
            name = arg[len("grad_"):] if arg.startswith("grad_") and arg[len("grad_"):] in spec.arrays else arg
            array = spec.output if name == grad_output_name(spec) else spec.arrays.get(name)
            if array is None:
                continue
            for axis, d in enumerate(array.shape):
                if isinstance(d, sp.Symbol) and d != spec.batch_size:
                    given.setdefault(self._size_names(spec)[d], f"{arg}.shape[{axis}]")
        bind = []
        for name in self._size_names(spec).values():
            if name not in args and re.search(rf"\b{name}\b", body):
                if name not in given:
                    raise ValueError(f"the size {name} is given by no array of the kernel: it cannot be bound at "
                                     "run time")
                bind.append(f"{name} = {given[name]}")
        at = first + (1 if spec is self.batch else 0)
        return lines[:at] + bind + lines[at:]


def runtime_program_kernels(expr: str, shapes=None, *, input="x", target: str | None = None,
                            outputs=None, constants: tuple = (), whole_batch: bool = False) -> list[str]:
    """The kernels of a program (a table of inputs or outputs, statements) as derive.generate_program
    writes them (update_output, grad_input, acc_grad_parameters, backward; then ``_batch``), with
    every size bound from the arrays' shapes at run time. Sizes are told apart by their values:
    give distinct sizes distinct values. ``constants``: parameters that are numbers the kernels
    take (a constructor's eps), never differentiated; ``whole_batch``: the input is a batch
    already (its statistics couple the samples), so no ``_batch`` kernels."""
    from .symbolic.program import program

    writer = RuntimeProgramWriter(program(expr, shapes, input=input, target=target, outputs=outputs), "Layer")
    writer.constants = frozenset(constants)
    blocks = []
    for batch in (False,) if whole_batch else (False, True):
        blocks.append(writer.forward_kernel(batch))
        blocks.append(writer.backward_kernel("grad_input", batch))
        if set(writer.program.parameters) - writer.constants:
            blocks.append(writer.backward_kernel("acc_grad_parameters", batch))
            blocks.append(writer.backward_kernel("backward", batch))
    return blocks


class RuntimeProgramWriter(ProgramWriter):
    """The program writer with sizes as names bound from the arguments' shapes. As RuntimeSizes'
    kernels: an element-wise step writes into a temporary nothing reads afterwards (never one a
    value's name holds), a parameter's gradient is scaled in its own temporary, and a kernel
    returning the output (one, not a loss) or gradInput (one input) takes last ``out``, the
    module's buffer (None: a new array), and computes that array there."""

    _made: Lowering | None = None  # the lowering of the kernel being written
    _result: str | None = None  # the array of it that goes into ``out``

    def __init__(self, program, name: str) -> None:
        super().__init__(program, name)
        self.symbols = program_sizes(program)  # size value -> its symbol (n, m, ...)
        self.values = {}  # the walk's terms keep their size symbols
        taken = set(self._arrays_of_program()) | {"xp", "np", "scale", str(BATCH)}
        if any(str(s) in taken for s in self.symbols.values()):
            raise ValueError("a size's name is the name of an array of the program")

    def _arrays_of_program(self) -> dict[str, str]:
        return super()._arrays()

    def _arrays(self) -> dict[str, str]:
        names = super()._arrays()
        names.update({str(s): str(s) for s in self.symbols.values()})
        return names

    def _known_shape(self, name: str) -> tuple:
        return (None,) * len(self.program.shapes[name])

    def _statement_sizes(self, spec) -> dict:
        return _size_map(spec, self.symbols)

    def _shape(self, name: str, batch: bool) -> tuple:
        shape = tuple(str(self.symbols[d]) for d in self.program.shapes[name])
        return ((str(BATCH),) if batch and name in self.batched else ()) + shape

    def _lowering(self) -> Lowering:
        self._made = super()._lowering()
        return self._made

    def _finish(self, lines: list[str]) -> list[str]:
        made = self._made
        named = frozenset(m.group(2) for m in (re.fullmatch(r"(\w+) = (_t\d+)", line) for line in lines)
                          if m and not _TEMPORARY.fullmatch(m.group(1)))
        lines = scaled_in_place(in_place(lines, made.sizes, named), made.temporaries)
        return into_buffer(lines, self._result, made.temporaries) if self._result else lines

    def _kernel(self, name: str, args: list[str], body, doc: str, returns, batch: bool) -> str:
        p = self.program
        single = p.outputs[0] if len(p.outputs) == 1 and not p.is_criterion else None
        self._result = (single if name.startswith("update_output") else
                        returns if returns and returns.isidentifier() and returns.startswith("_grad_") else None)
        if self._result:
            args = args + ["out=None"]
        text = super()._kernel(name, args, body, doc, returns, batch)
        lines = text.split("\n")
        first = next(k for k, line in enumerate(lines) if line.startswith("    xp = ")) + 1 + batch
        used = "\n".join(lines[first:])
        given: dict[str, str] = {}
        p = self.program
        for arg in args:
            value = arg if arg in p.shapes else next((o for o in p.outputs if _var(given_name(o)) == arg), None)
            if value is None:
                continue
            lead = 1 if batch and value in self.batched else 0
            for axis, d in enumerate(p.shapes[value]):
                given.setdefault(str(self.symbols[d]), f"{arg}.shape[{axis + lead}]")
        bind = []
        for s in self.symbols.values():
            if re.search(rf"\b{s}\b", used):
                if str(s) not in given:
                    raise ValueError(f"the size {s} is given by no array of the kernel: it cannot be bound at run time")
                bind.append(f"    {s} = {given[str(s)]}")
        return "\n".join(lines[:first] + bind + lines[first:])
