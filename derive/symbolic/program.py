"""Layers as short programs: named intermediates, backprop statement by statement.

A program is a few statements, one a line (or separated by ``;``), each ``name = expr``
or ``name[i, ...] = expr`` in either notation of the layer language; a statement may
use the names defined before it::

    mu = mean(x)
    xc = x - mu
    var = mean(xc**2)
    xhat = xc / sqrt(var + 1e-5)
    y = gamma * xhat + beta

Each statement is parsed by :func:`language.parse` on its own, its operands (the
inputs, parameters and earlier intermediates it reads) being its variables, and derived
by the engine (:mod:`layer`): its local backward, dJ/d(operand) from dJ/d(its output),
proved at symbolic sizes.  The cost is the sum of the statements' costs, not that of
one flat expression in which every subexpression reappears.  The backward pass walks
the statements in reverse; where an intermediate is read by several statements the
contributions are summed.  The results are the input's and the parameters' gradients.
"""

from __future__ import annotations

import ast
import functools
import itertools
from dataclasses import dataclass

import sympy as sp

from .calculus import _rename, collapse, equal
from .derivation import Derivation, Named, ProofError, Result, Section, Step
from .functions import FUNCTIONS, ArgExtremum, Extremum
from .language import (MAX_LENGTH, RESERVED, LayerSpec, LayerSyntaxError, _check_whitelist,
                       _parse_shapes, parse)
from .layer import (LOSS, Gradient, _bold, _frac, _proved_step, element, forward_matrix, grad_output_name,
                    gradients, matrix_of)

#: A program may be this many times longer than one expression.
MAX_PROGRAM_LENGTH = 4 * MAX_LENGTH
_SIZE_NAMES = ("n", "m", "p", "q", "h", "u", "v", "w")
_INDEX_POOL = ("j", "k", "l", "a", "c", "d", "e", "f", "o", "r", "s", "t")


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement: ``name`` defined on ``line`` by ``spec`` (its own LayerSpec)."""

    line: int
    name: str
    text: str
    spec: LayerSpec
    reads: tuple[str, ...]  # every array it reads, in order of first appearance
    label: str = ""  # "line 3", or "line 1 (statement 2)" where ';' put several on one line

    @property
    def operands(self) -> tuple[str, ...]:
        """The arrays it reads whose gradient flows back (not the target)."""
        return tuple(a.name for a in [self.spec.input] + self.spec.parameters if a.role != "target")


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class Program:
    """A parsed program: statements in order, its inputs, parameters, target and outputs,
    and every array's concrete shape."""

    text: str
    statements: tuple[Statement, ...]
    inputs: tuple[str, ...]
    parameters: tuple[str, ...]
    target: str | None
    outputs: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]

    @property
    def is_criterion(self) -> bool:
        """One scalar output: a loss (with parameters, a criterion with parameters)."""
        return len(self.outputs) == 1 and self.shapes[self.outputs[0]] == ()

    def defined(self, name: str) -> Statement | None:
        return next((s for s in self.statements if s.name == name), None)

    def readers(self, name: str) -> list[Statement]:
        """The statements whose gradient flows back into ``name``."""
        return [s for s in self.statements if name in s.operands]

    @property
    def batched(self) -> set[str]:
        """The arrays that carry the sample axis in a batch: the inputs, the target and
        every intermediate computed from them (the parameters and what depends on them alone do not)."""
        out = set(self.inputs) | ({self.target} if self.target else set())
        for s in self.statements:
            if set(s.reads) & out:
                out.add(s.name)
        return out


# --- parsing ---------------------------------------------------------------------------

def _names(value, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = tuple(v.strip() for v in value.split(","))
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{what} must be a name or a sequence of names, got {value!r}")
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{what} must name arrays, got {name!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{what} names an array twice: {', '.join(value)}")
    return tuple(value)


def _left(node: ast.AST, line: str) -> tuple[str, bool]:
    """The statement's defined name, and whether it is written in index notation."""
    if not isinstance(node, ast.Assign) or len(node.targets) != 1:
        raise LayerSyntaxError(f"{line}: expected one assignment, 'name = <expression>' "
                               "or 'name[i] = <expression>'")
    left = node.targets[0]
    if isinstance(left, ast.Name):
        return left.id, False
    if isinstance(left, ast.Subscript) and isinstance(left.value, ast.Name):
        return left.value.id, True
    raise LayerSyntaxError(f"{line}: the left side must name what the statement defines: "
                           "z = ... or z[i, j] = ...")


def _reads(value: ast.AST) -> list[str]:
    """The arrays an expression reads, in order of first appearance: names outside the
    indices of a subscript (an integer array read inside one, Yb[i] in logprobs[i, Yb[i]],
    counts), the functions called and the indices a sum, a mean or a max runs over."""
    skip: set[int] = set()
    index_notation = any(isinstance(n, ast.Subscript) for n in ast.walk(value))
    for node in ast.walk(value):
        if isinstance(node, ast.Subscript):
            gathers = {id(n.value) for n in ast.walk(node.slice) if isinstance(n, ast.Subscript)}
            skip.update(id(n) for n in ast.walk(node.slice) if id(n) not in gathers)
        if isinstance(node, ast.Call):
            skip.add(id(node.func))
            name = node.func.id if isinstance(node.func, ast.Name) else None
            over = name in ("sum", "mean") or (name in ("max", "min") and index_notation
                                               and len(node.args) > 1
                                               and all(isinstance(a, ast.Name) for a in node.args[1:]))
            if over or name == "len":  # len(k): k is an index, no array
                for arg in node.args[0 if name == "len" else 1:]:
                    skip.update(id(n) for n in ast.walk(arg))
    out: list[str] = []
    for node in _preorder(value):
        if isinstance(node, ast.Name) and id(node) not in skip and node.id not in out:
            out.append(node.id)
    return out


def _preorder(node: ast.AST):
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _preorder(child)


def parse_program(text: str, shapes=None, *, input="x", target: str | None = None,
                  outputs=None) -> Program:
    """Parse a program (statements one a line or separated by ``;``) into a :class:`Program`.

    ``input`` names the input, or several (``"x,h,c"`` or a tuple); ``outputs`` the
    statements whose values the layer returns (default: the last).  Bad input raises a
    :class:`LayerSyntaxError` (a ValueError) naming the statement's line.
    """
    if not isinstance(text, str):
        raise TypeError(f"the layer must be a string, got {type(text).__name__}")
    if len(text) > MAX_PROGRAM_LENGTH:
        raise LayerSyntaxError(f"the program is {len(text)} characters long, at most "
                               f"{MAX_PROGRAM_LENGTH} are allowed")
    inputs = _names(input, "input")
    if target is not None and (not isinstance(target, str) or not target.isidentifier()):
        raise ValueError(f"target must name an array, got {target!r}")
    wanted = None if outputs is None else _names(outputs, "outputs")
    given = _parse_shapes(shapes)
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as error:
        raise LayerSyntaxError(f"line {error.lineno or 0}: syntax error: {error.msg}") from None
    if not tree.body:
        raise LayerSyntaxError("the program has no statement: write 'y = <expression>'")
    for node in tree.body:
        try:
            _check_whitelist(node)
        except LayerSyntaxError as error:
            raise LayerSyntaxError(f"line {node.lineno}: {error}") from None
    # Names first: each defined once, after what it reads, never an input's or a parameter's.
    defined: dict[str, str] = {}
    reads: dict[str, list[str]] = {}
    per_line = [node.lineno for node in tree.body]
    labels = [f"line {n}" if per_line.count(n) == 1 else f"line {n}, statement {k + 1}"
              for k, n in enumerate(per_line)]
    lefts = [_left(node, label) for node, label in zip(tree.body, labels)]
    where = {name: label for (name, _), label in zip(lefts, labels)}
    for (name, _), line in zip(lefts, labels):  # first what no order of statements mends
        if name in RESERVED - {"J"}:
            raise LayerSyntaxError(f"{line}: {name!r} is reserved, name it otherwise")
        if name in inputs or name == target:
            role = "the input" if name in inputs else "the target"
            raise LayerSyntaxError(f"{line}: {name!r} is {role}; a statement may not redefine it")
        if name in given:
            raise LayerSyntaxError(f"{line}: {name!r} is defined here, but --shape gives it as an "
                                   "input or a parameter (a statement's shape follows from it)")
    for (name, _), node, line in zip(lefts, tree.body, labels):
        if name in defined:
            raise LayerSyntaxError(f"{line}: {name!r} is defined twice (first on {defined[name]})")
        used = _reads(node.value)
        if name in used:
            raise LayerSyntaxError(f"{line}: {name!r} is used in its own definition (a cycle)")
        for other in used:
            if other in where and other not in defined:
                if _depends(other, name, where, tree, lefts):
                    raise LayerSyntaxError(f"{line}: a cycle: {name!r} uses {other!r} ({where[other]}), "
                                           f"which uses {name!r}")
                raise LayerSyntaxError(f"{line}: {other!r} is used before it is defined (on {where[other]}; "
                                       "a parameter may not share its name with a statement)")
        defined[name] = line
        reads[name] = used
    last = lefts[-1][0]
    outs = wanted if wanted is not None else (last,)
    for name in outs:
        if name not in defined:
            raise LayerSyntaxError(f"the output {name!r} is never defined by a statement "
                                   f"(defined: {', '.join(defined)})")
    everything = {n for names in reads.values() for n in names}
    for name in inputs:
        if name not in everything:
            raise LayerSyntaxError(f"the input {name!r} does not appear in the program (name it with --input)")
    if target is not None and target not in everything:
        raise LayerSyntaxError(f"the target {target!r} does not appear in the program")
    for name, line in defined.items():
        if name not in outs and not any(name in names for names in reads.values()):
            raise LayerSyntaxError(f"{line}: {name!r} is never used and is not an output "
                                   "(name the outputs with --outputs)")
    unknown = set(given) - everything
    if unknown:
        raise LayerSyntaxError(f"--shape names {', '.join(sorted(unknown))}, which the program does not use")
    # Then each statement on its own, with the shapes of what it reads.
    known: dict[str, tuple[int, ...]] = dict(given)
    statements = []
    for (name, _), node, label in zip(lefts, tree.body, labels):
        statements.append(_statement(text, node, name, reads[name], known, inputs, target, label))
    parameters = tuple(n for s in statements for n in s.reads
                       if n not in defined and n not in inputs and n != target)
    parameters = tuple(dict.fromkeys(parameters))
    program = Program(text, tuple(statements), inputs, parameters, target, tuple(outs), known)
    if target is not None and not program.is_criterion:
        raise LayerSyntaxError("a target is for a criterion, whose output is one number (J = ...)")
    return program


def _depends(start: str, goal: str, where: dict, tree, lefts) -> bool:
    """Whether the definition of ``start`` reads ``goal``, directly or through others."""
    definitions = {name: node for (name, _), node in zip(lefts, tree.body)}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        todo += _reads(definitions[name].value)
    return False


def _statement(text: str, node: ast.Assign, name: str, reads: list[str], known: dict, inputs, target,
               line: str) -> Statement:
    """One statement parsed by the language on its own: the first array it reads that is
    not the target is its input, the others its parameters (the target keeps its role)."""
    source = ast.get_source_segment(text, node) or ""
    if not reads:
        raise LayerSyntaxError(f"{line}: {name!r} reads no array (a constant is not a layer's step)")
    local_input = next((r for r in reads if r != target), reads[0])
    shapes = {r: known[r] for r in reads if r in known}
    try:
        # the target is the statement's target (an integer one may be read in a subscript)
        spec = parse(source, shapes, input=local_input, statement=True,
                     target=target if target in reads and local_input != target else None)
    except LayerSyntaxError as error:
        raise LayerSyntaxError(f"{line}: {error}") from None
    for array in spec.arrays.values():
        shape = spec.concrete(array.shape)
        if array.name in known and known[array.name] != shape:
            raise LayerSyntaxError(f"{line}: {array.name} has shape {shape} here but "
                                   f"{known[array.name]} before")
        known[array.name] = shape
    return Statement(node.lineno, name, source.strip(), spec, tuple(reads), line)


def is_program(text, input="x", outputs=None) -> bool:
    """Whether ``text`` (with these options) is a program rather than one expression: several
    statements, several inputs, or outputs named."""
    if outputs is not None or not isinstance(input, str) or "," in input:
        return True
    if not isinstance(text, str) or len(text) > MAX_PROGRAM_LENGTH:
        return False
    try:
        return len(ast.parse(text.strip(), mode="exec").body) > 1
    except SyntaxError:  # several lines: the program's parser names the line
        return len([line for line in text.strip().splitlines() if line.strip()]) > 1


def nested(text) -> bool:
    """Whether a one-expression layer calls a function inside another's argument (tanh(W2
    tanh(W1 x))), a sum or mean between them aside (log(sum(exp(x))) is not nested): its
    flat derivation repeats the inner function in every line and costs exponentially in the
    depth, so it is derived as a program of named intermediates."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:  # the one-expression parser refuses it
        return False
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except (SyntaxError, RecursionError, MemoryError):
        return False

    def depth(node: ast.AST) -> int:
        if isinstance(node, ast.Subscript):  # abs, min, max in a subscript are index arithmetic
            return 0
        inner = max((depth(c) for c in ast.iter_child_nodes(node)), default=0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("sum", "mean"):
                return 0
            if node.func.id in FUNCTIONS:
                return inner + 1
        return inner
    try:
        return depth(tree) >= 2
    except RecursionError:
        return False


def program(text: str, shapes=None, *, input="x", target: str | None = None, outputs=None,
            intermediates: bool | None = None) -> Program:
    """The program of ``text``: a one-expression layer split at its functions and repeated
    subexpressions when ``intermediates`` is true (None: when its functions are nested)."""
    if intermediates is None:
        intermediates = nested(text)
    if intermediates and isinstance(text, str) and not is_program(text, input, outputs):
        try:
            text = split(text)
        except SyntaxError:
            pass  # parse_program names the error
    return parse_program(text, shapes, input=input, target=target, outputs=outputs)


# --- one expression, split into statements (item: intermediates for any layer) -------------

def split(text: str) -> str:
    """A one-expression layer in array notation as a program: the argument of each function
    that is not a plain name (z), each function call inside the expression (h), and each
    repeated subexpression (u) named by a statement of its own.  Index notation is kept
    whole (its subexpressions have free indices of their own)."""
    tree = ast.parse(text.strip(), mode="exec")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        return text
    assign = tree.body[0]
    if not isinstance(assign.targets[0], ast.Name) or any(isinstance(n, ast.Subscript) for n in ast.walk(assign)):
        return text
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    counts: dict[str, int] = {}
    for node in ast.walk(assign.value):
        if isinstance(node, (ast.BinOp, ast.Call, ast.UnaryOp)):
            key = ast.dump(node)
            counts[key] = counts.get(key, 0) + 1
    plan: list[tuple[str, ast.AST]] = []  # (kind, node) in the order they are computed
    named: dict[str, str] = {}

    def visit(node: ast.AST, role: str) -> ast.AST:
        key = ast.dump(node) if isinstance(node, (ast.BinOp, ast.Call, ast.UnaryOp)) else None
        if key is not None and key in named:
            return ast.Name(id=named[key], ctx=ast.Load())
        is_function = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST) and field != "func":
                setattr(node, field, visit(value, "argument" if is_function else "inner"))
            elif isinstance(value, list):
                setattr(node, field, [visit(v, "argument" if is_function else "inner")
                                      if isinstance(v, ast.AST) else v for v in value])
        if key is None or role == "top":
            return node
        kind = ("h" if is_function else "z" if role == "argument" else "u" if counts.get(key, 0) > 1 else None)
        if kind is None:
            return node
        plan.append((kind, node))
        named[key] = f"\0{len(plan) - 1}"
        return ast.Name(id=named[key], ctx=ast.Load())

    value = visit(assign.value, "top")
    if not plan:
        return text
    totals = {kind: sum(1 for k, _ in plan if k == kind) for kind in "hzu"}
    counters = {kind: itertools.count(1) for kind in "hzu"}
    names = []
    for kind, _ in plan:
        base = kind if totals[kind] == 1 else f"{kind}{next(counters[kind])}"
        candidate, k = base, 1
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        names.append(candidate)

    def rename(node: ast.AST) -> str:
        source = ast.unparse(node)
        for k in reversed(range(len(names))):
            source = source.replace(f"\0{k}", names[k])
        return source
    lines = [f"{names[k]} = {rename(node)}" for k, (_, node) in enumerate(plan)]
    lines.append(f"{assign.targets[0].id} = {rename(value)}")
    return "\n".join(lines)


def _divides_anew(form: sp.Expr, reference: sp.Expr) -> bool:
    """Whether ``form`` divides by something ``reference`` does not divide by (a value that
    may vanish: y = gamma xhat + beta solved for xhat is (y - beta) / gamma)."""
    def denominators(e):
        return {p.base for p in e.atoms(sp.Pow) if p.exp.is_negative}
    return bool(denominators(form) - denominators(reference))


# --- the backward walk -----------------------------------------------------------------------

def bar(name: str, matrix: bool = False) -> str:
    """The name of dJ/d(name), written as the adjoint: x̄ (bold for the whole array)."""
    inner = rf"\mathbf{{{name}}}" if matrix else name
    return rf"\bar{{{inner}}}" if len(name) == 1 else rf"\overline{{{inner}}}"


def given_name(name: str) -> str:
    """The name of the gradient an output receives from outside (gradOutput's part for it)."""
    return rf"g^{{{name}}}"


@dataclass(frozen=True)
class Contribution:
    """What statement ``statement`` adds to dJ/d(``operand``): ``index_form`` over
    ``indices`` (the operand's element), ``matrix`` its matrix form (or None)."""

    statement: Statement
    operand: str
    gradient: Gradient
    indices: tuple[sp.Symbol, ...]
    index_form: sp.Expr
    matrix: sp.Expr | None


def _element(name: str, indices) -> sp.Expr:
    return sp.IndexedBase(name, real=True)[tuple(indices)] if indices else sp.Symbol(name, real=True)


def _adjoint_of(spec: LayerSpec, program: Program, statement: Statement) -> sp.Expr | None:
    """The element of dJ/d(statement's output) at the statement's indices (None: J itself, 1)."""
    if program.is_criterion and statement.name == program.outputs[0]:
        return None
    return _element(bar(statement.name), spec.indices)


def contributions(program: Program, statement: Statement) -> list[Contribution]:
    """The statement's local backward, one contribution per operand, each proved by the engine."""
    spec = statement.spec
    grads = gradients(spec)
    out = []
    adjoint = _adjoint_of(spec, program, statement)
    g = grad_output_name(spec)
    for operand in statement.operands:
        gr = grads[operand]
        v = element(gr.variable, gr.indices)
        if spec.is_criterion:
            _proved_step(spec, sp.Derivative(LOSS, v), (sp.Derivative(spec.expr, v), gr.index_form))
            form = gr.index_form if adjoint is None else adjoint * gr.index_form
        else:
            chain = (gr.chain, gr.index_form) + ((gr.output_form,) if gr.output_form is not None else ())
            _proved_step(spec, sp.Derivative(LOSS, v), chain)
            final = gr.index_form if _divides_anew(gr.final, gr.index_form) else gr.final
            form = final.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name == g,
                                    lambda e: _element(bar(statement.name), e.indices))
        matrix = matrix_of(spec, gr)
        if matrix is not None:
            if spec.is_criterion:
                matrix = matrix if adjoint is None else sp.Symbol(bar(statement.name), real=True) * matrix
            else:
                matrix = matrix.xreplace({m: sp.MatrixSymbol(bar(statement.name, True), *m.shape)
                                          for m in matrix.atoms(sp.MatrixSymbol) if m.name == g})
        out.append(Contribution(statement, operand, gr, gr.indices, form, matrix))
    return out


@dataclass(frozen=True)
class Adjoint:
    """dJ/d(name) in the backward walk: the sum of its contributions (and, for an output,
    the gradient it receives), over ``indices``."""

    name: str
    indices: tuple[sp.Symbol, ...]
    index_form: sp.Expr
    matrix: sp.Expr | None
    parts: tuple[Contribution, ...]
    given: bool  # an output: gradOutput's part for it is added
    terms: tuple[sp.Expr, ...] = ()  # each part's index form over ``indices``, in program sizes


@functools.lru_cache(maxsize=32)
def walk(program: Program) -> dict[str, Adjoint]:
    """Every intermediate's, input's and parameter's gradient, in the order the backward
    pass computes them (the statements in reverse, then the inputs and parameters)."""
    parts: dict[str, list[Contribution]] = {}
    for statement in reversed(program.statements):
        for c in contributions(program, statement):
            parts.setdefault(c.operand, []).append(c)
    order = [s.name for s in reversed(program.statements)] + list(program.inputs) + list(program.parameters)
    sizes = program_sizes(program)
    out = {}
    for name in order:
        given = name in program.outputs and not program.is_criterion
        mine = parts.get(name, [])
        if not mine and not given:
            continue
        shape = program.shapes[name]
        used = set()
        for c in mine:
            used |= {str(s) for s in c.index_form.free_symbols | _bound(c.index_form)}
        used |= {str(s) for s in sizes.values()}
        pool = [n for n in _INDEX_POOL if n not in used and n not in program.shapes]
        indices = tuple(sp.Symbol(pool[k], integer=True, positive=True) for k in range(len(shape)))
        terms, matrices = [], []
        if given:
            terms.append(_element(given_name(name), indices))
            matrices.append(sp.MatrixSymbol(given_name(name), *_matrix_shape(shape, sizes, name, program))
                            if len(shape) <= 2 else None)
        for c in mine:
            rename = dict(zip(c.indices, indices)) | _size_map(c.statement.spec, sizes)
            terms.append(c.index_form.xreplace(rename))
            matrices.append(None if c.matrix is None else c.matrix.xreplace(_size_map(c.statement.spec, sizes)))
        matrix = None
        if all(m is not None for m in matrices):
            try:
                matrix = sp.MatAdd(*matrices).doit() if len(matrices) > 1 else matrices[0]
            except (TypeError, ValueError, sp.ShapeError):
                matrix = None
        out[name] = Adjoint(name, indices, sp.Add(*terms), matrix, tuple(mine), given,
                            tuple(terms[1:] if given else terms))
    return out


def _bound(expr: sp.Expr) -> set:
    return {v for s in expr.atoms(sp.Sum) for v, _, _ in s.limits}


def _matrix_shape(shape, sizes, name, program) -> tuple:
    symbols = [sizes[d] for d in shape]
    return tuple(symbols) if len(symbols) == 2 else (symbols[0], sp.Integer(1)) if symbols else (1, 1)


@functools.lru_cache(maxsize=32)
def program_sizes(program: Program) -> dict[int, sp.Symbol]:
    """One size symbol per distinct size of the program (n, m, p, ...), in order of first
    appearance (the inputs' sizes first), never the name of an array or an index."""
    taken = set(program.shapes)
    for s in program.statements:
        taken |= {str(x) for x in s.spec.expr.free_symbols | _bound(s.spec.expr)}
        taken |= {str(i) for i in s.spec.indices}
    order = list(program.inputs) + [s.name for s in program.statements] + list(program.parameters)
    values = []
    for name in order:
        for d in program.shapes.get(name, ()):
            if d not in values:
                values.append(d)
    for name in program.shapes:
        for d in program.shapes[name]:
            if d not in values:
                values.append(d)
    names = [n for n in _SIZE_NAMES if n not in taken] + [f"n_{k}" for k in range(1, 100)]
    return {value: sp.Symbol(names[k], integer=True, positive=True) for k, value in enumerate(values)}


def _size_map(spec: LayerSpec, sizes: dict[int, sp.Symbol]) -> dict:
    return {symbol: sizes[value] for symbol, value in spec.sizes.items()}


# --- the derivation ----------------------------------------------------------------------

def _lhs(name: str, indices) -> sp.Expr:
    return sp.Derivative(LOSS, _element(name, indices))


def program_derivation(program: Program) -> Derivation:
    """The program's derivation: the forward pass statement by statement, the backward
    pass in reverse (one named gradient a line, shared uses summed), and the results."""
    sizes = program_sizes(program)
    forward = []
    for s in program.statements:
        spec = s.spec
        rename = _size_map(spec, sizes)
        lhs = element(spec.output, spec.indices)
        forward.append(Step(lhs, (spec.expr.xreplace(rename),), f"{s.label.capitalize()}: `{s.text}`",
                            relation="def"))
        try:
            form = forward_matrix(spec) if len(spec.indices) <= 2 else None
        except ProofError:  # a matrix form the prover cannot settle is not shown
            form = None
        if form is not None and not isinstance(form, sp.MatrixSymbol):
            forward.append(Step(Named(_bold(s.name) if spec.indices else s.name, None),
                                (form.xreplace(rename),), f"{s.label.capitalize()}: `{s.text}`", relation="def"))
    shown_sizes = ", ".join(f"${sp.latex(symbol)} = {value}$" for value, symbol in sizes.items())
    integers = sorted({a.name for s in program.statements for a in s.spec.arrays.values() if a.integer})
    convention = (f"{', '.join(integers)} {'holds' if len(integers) == 1 else 'hold'} integers counted from 0, "
                  "as numpy and PyTorch count; the elements here count from 1, so a value v reads element "
                  "v + 1. " if integers else "")
    sections = [Section("Forward pass", convention + "Each statement, element by element (sizes: " + shown_sizes
                        + ") and, where there is one, in matrix form.", forward)]
    adjoints = walk(program)
    backward = []
    for name, adjoint in adjoints.items():
        text = _walk_text(program, adjoint)
        chain = (adjoint.index_form,) + ((adjoint.matrix,) if adjoint.matrix is not None else ())
        lhs = _lhs(name, adjoint.indices)
        if adjoint.matrix is not None:
            backward.append(Step(lhs, (adjoint.index_form,), text))
            backward.append(Step(Named(bar(name, True) if len(program.shapes[name]) else bar(name), None),
                                 (adjoint.matrix,), text))
        else:
            backward.append(Step(lhs, chain, text))
    intro = (r"Backward, the statements in reverse. $\bar{v}$ is short for $\partial J / \partial v$; each "
             "line is one statement's chain rule, proved by sympy at symbolic sizes. "
             + ("The loss's own gradient is 1." if program.is_criterion else
                "An output's $g^{v}$ is the gradient it receives (gradOutput).")
             + " Where an array is read by several statements, their contributions are summed.")
    sections.append(Section("Backward pass", intro, backward))
    results = {}
    for name in program.inputs + program.parameters:
        adjoint = adjoints.get(name)
        if adjoint is None:
            continue
        expr = adjoint.matrix if adjoint.matrix is not None else adjoint.index_form
        results[f"dJ/d{name}"] = Result(_frac("J", _bold(name)), expr,
                                        tuple(sp.Integer(d) for d in program.shapes[name]))
    collapsed = _collapsed_section(program)
    if collapsed is not None:
        sections.append(collapsed)
    shapes = ", ".join(f"{n} {program.shapes[n]}" for n in program.inputs + program.parameters
                       + ((program.target,) if program.target else ()))
    title = "; ".join(s.text for s in program.statements) + f" ({shapes})"
    return Derivation(title, sections, {}, results, {})


def _walk_text(program: Program, adjoint: Adjoint) -> str:
    text = _readers_text(program, adjoint)
    kinds = sorted({e.kind for c in adjoint.parts for e in c.statement.spec.expr.atoms(Extremum)})
    if kinds:  # the subgradient at a tie, as torch.max(x, dim) and torch.min take it
        text += (f" The {' and '.join(kinds)} passes its gradient to the first extreme entry in index order, "
                 "as torch's does.")
    return text


def _readers_text(program: Program, adjoint: Adjoint) -> str:
    readers = [c.statement.label for c in reversed(adjoint.parts)]
    if len(readers) > 1 and all("," not in r for r in readers):  # lines 3 and 4
        numbers = [r[len("line "):] for r in readers]
        lines = "lines " + ", ".join(numbers[:-1]) + " and " + numbers[-1]
    else:
        lines = "; ".join(readers)
    if adjoint.given and readers:
        return (f"`{adjoint.name}` is an output and is read on {lines}: the gradient it receives "
                "and the contributions are summed.")
    if len(readers) > 1:
        return f"`{adjoint.name}` is read on {lines}: the contributions of these statements are summed."
    if adjoint.given:
        return f"`{adjoint.name}` is an output: its gradient is the one it receives."
    return f"`{adjoint.name}`, read on {lines}:"


# --- the collapsed gradient --------------------------------------------------------------

#: A collapsed gradient longer than this (sympy's count of operations) is not shown: the
#: chain through the intermediates is the readable form.
COLLAPSE_LIMIT = 40


def collapsed(program: Program, name: str) -> sp.Expr | None:
    """dJ/d(name) with every intermediate's gradient substituted back (the forward
    intermediates kept by name), simplified, and proved equal to the chain; None where
    it is longer than the chain's lines (COLLAPSE_LIMIT) or the proof does not settle."""
    return collapsed_with_facts(program, name)[0]


def collapsed_with_facts(program: Program, name: str) -> tuple[sp.Expr | None, dict]:
    """:func:`collapsed`, and the facts of the forward pass it used ({sum: 0}), each proved."""
    form, facts = _collapsed(program, name)
    if form is None:
        return None, {}
    return _canonical(form), {_canonical(k): v for k, v in facts.items()}


def _canonical(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its summation indices named by their place (depth, position): the same
    text whatever order the fresh names were drawn in (sets of sympy atoms vary by process)."""
    renamed = _rename(expr, 0, "_c")
    taken = {str(x) for x in renamed.free_symbols} | {str(x) for x in renamed.atoms(sp.Symbol)}
    letters = [n for n in ("k", "l", "q", "r", "s", "t", "u", "v", "w") if n not in taken]
    names = {}
    for symbol in sorted((x for x in renamed.atoms(sp.Symbol) if x.name.startswith("_c")), key=str):
        inside_function = symbol.name.startswith("_cf_")
        depth, position = (int(n) for n in symbol.name[4 if inside_function else 2:].split("_"))
        name = letters[depth % len(letters)] + ("'" if inside_function else "") + (str(position) if position else "")
        names[symbol] = sp.Symbol(name, integer=True, positive=True)
    return renamed.xreplace(names)


def _collapsed(program: Program, name: str) -> tuple[sp.Expr | None, dict]:
    adjoints = walk(program)
    adjoint = adjoints.get(name)
    if adjoint is None:
        return None, {}
    sizes = program_sizes(program)
    ranges = {}
    for a in adjoints.values():
        ranges.update(zip(a.indices, (sizes[d] for d in program.shapes[a.name])))
    expr = adjoint.index_form
    intermediates = {s.name for s in program.statements}
    for _ in range(len(program.statements) + 1):
        found = [e for e in expr.atoms(sp.Indexed) if _base(e) in intermediates]
        found += [e for e in expr.atoms(sp.Symbol) if _base(e) in intermediates
                  and _base(e) in adjoints and not adjoints[_base(e)].indices]
        new = expr.xreplace({e: _substitute(adjoints[_base(e)], e, ranges) for e in found if _base(e) in adjoints})
        if new == expr:
            break
        expr = new
    if any(_base(e) in intermediates for e in expr.atoms(sp.Indexed, sp.Symbol) if _base(e)):
        return None, {}
    chain = expr
    if _terms(chain) > EXPANSION_LIMIT:  # a deep chain of products: its expansion alone would not end
        return None, {}
    if chain.has(ArgExtremum):  # a max's subgradient has no closed form; where it cancels, through_max shows it
        return None, {}
    # Summed as it stands (an MLP's nested sums) or expanded first (LayerNorm's terms
    # cancel): whichever is shorter.
    simple = min((sp.factor_terms(collapse(form, ranges)) for form in (chain, sp.expand(chain))),
                 key=sp.count_ops)
    compact, facts = _compact(program, chain, ranges)
    if compact is not None and sp.count_ops(compact) < min(sp.count_ops(simple), COLLAPSE_LIMIT + 1):
        return compact, facts
    if sp.count_ops(simple) > COLLAPSE_LIMIT:
        return None, {}
    if not equal(collapse(simple, ranges), collapse(chain, ranges)):
        raise ProofError(f"dJ/d{name}: the collapsed gradient is not the chain's")
    return simple, {}


#: Chains whose expansion has more terms than this are not collapsed (200 nested tanh: 2**200).
EXPANSION_LIMIT = 5000


def _terms(expr: sp.Expr) -> int:
    """How many terms ``expr`` has once expanded (products multiply their factors' counts),
    counted without expanding it."""
    if isinstance(expr, sp.Add):
        return sum(_terms(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        count = 1
        for factor in expr.args:
            count *= _terms(factor)
            if count > EXPANSION_LIMIT:
                return count
        return count
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 1:
        return _terms(expr.base) ** min(int(expr.exp), 64)
    if isinstance(expr, sp.Sum):
        return _terms(expr.function)
    return 1


def _definition(program: Program, e, ranges) -> sp.Expr:
    """The forward value of the intermediate element ``e`` (its statement's right side at
    e's indices), in the program's sizes, its sums over fresh indices."""
    statement = program.defined(e.base.name if isinstance(e, sp.Indexed) else e.name)
    spec = statement.spec
    at = e.indices if isinstance(e, sp.Indexed) else ()
    body = spec.expr.xreplace(_size_map(spec, program_sizes(program)))
    body = body.replace(lambda x: isinstance(x, sp.Sum), lambda x: _fresh_sum(x, ranges))
    return body.xreplace(dict(zip(spec.indices, at)))


def _forward(program: Program, e) -> bool:
    """Whether ``e`` is an element of a forward intermediate (not an adjoint, not an input)."""
    name = e.base.name if isinstance(e, sp.Indexed) else e.name if isinstance(e, sp.Symbol) else None
    return name is not None and program.defined(name) is not None


def _vanishing(program: Program, expr: sp.Expr, ranges) -> dict:
    """The sums of one intermediate over one of its indices that are 0 (sum(x - mean(x)) = 0),
    each proved by substituting the definitions down to the inputs."""
    out = {}
    for s in expr.atoms(sp.Sum):
        if len(s.limits) != 1 or not isinstance(s.function, sp.Indexed) or not _forward(program, s.function):
            continue
        unfolded = s
        for _ in range(len(program.statements)):
            found = {e: _definition(program, e, ranges) for e in unfolded.atoms(sp.Indexed, sp.Symbol)
                     if _forward(program, e) and not (isinstance(e, sp.Symbol) and e.is_integer)}
            found = {e: v for e, v in found.items() if not isinstance(e, sp.Symbol) or
                     program.shapes.get(e.name) == ()}
            if not found:
                break
            unfolded = unfolded.xreplace(found)
        try:
            if equal(collapse(sp.expand(unfolded), ranges), sp.Integer(0)):
                out[s] = sp.Integer(0)
        except (TypeError, ValueError):
            continue
    return out


def _split_sums(expr: sp.Expr) -> sp.Expr:
    """Sums of sums split term by term, factors free of the index pulled out."""
    def split(s: sp.Sum):
        if len(s.limits) != 1:
            return s
        (var, low, high), = s.limits
        terms = []
        for term in sp.Add.make_args(sp.expand(s.function)):
            inside = [f for f in sp.Mul.make_args(term) if var in f.free_symbols]
            outside = [f for f in sp.Mul.make_args(term) if var not in f.free_symbols]
            terms.append(sp.Mul(*outside) * (sp.Sum(sp.Mul(*inside), (var, low, high)) if inside
                                             else (high - low + 1)))
        return sp.Add(*terms)
    for _ in range(4):
        new = sp.expand(expr.replace(lambda e: isinstance(e, sp.Sum), split))
        if new == expr:
            break
        expr = new
    return expr


def _compact(program: Program, chain: sp.Expr, ranges) -> tuple[sp.Expr | None, dict]:
    """The collapsed gradient with proved facts of the forward pass used (a centred
    intermediate sums to 0) and the forward's element-wise intermediates named again
    (xc / sqrt(var + eps) is xhat): BatchNorm's (1/N) gamma sigma^-1 (N g - sum g - xhat sum(g xhat)).
    Proved: equal to the chain once the facts (each proved) are applied to both and the
    names unfolded.  None where no fact applies."""
    expanded = _split_sums(collapse(chain, ranges))
    zeros = _vanishing(program, expanded, ranges)
    if not zeros:
        return None, {}
    reduced = sp.expand(expanded.xreplace(zeros))
    named = _named_back(program, reduced, ranges, reading=True)
    # once more: inside the sums split apart
    named = _named_back(program, _split_sums(named), ranges, reading=False)
    compact = sp.factor_terms(sp.factor(named)) if not named.has(sp.Sum) else sp.factor_terms(named)
    unfolded = compact.replace(lambda e: isinstance(e, sp.Indexed) and _forward(program, e)
                               and not reduced.has(e), lambda e: _definition(program, e, ranges))
    if not equal(collapse(_split_sums(unfolded), ranges).xreplace(zeros), collapse(reduced, ranges)):
        return None, {}
    return compact, zeros


def _named_back(program: Program, expr: sp.Expr, ranges, reading: bool) -> sp.Expr:
    """``expr`` with each element-wise intermediate's definition written as its name again
    (xc_k for x_k - mu), last statement first; with ``reading``, only a definition that reads
    the element it is tried at."""
    for statement in reversed(program.statements):
        spec = statement.spec
        if statement.name in program.outputs or spec.expr.has(sp.Sum, Extremum) or not spec.indices:
            continue
        for access in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
            if len(access.indices) != len(spec.indices):
                continue
            element = sp.IndexedBase(statement.name, real=True)[access.indices]
            pattern = _definition(program, element, ranges)
            if not reading or pattern.has(access):
                expr = expr.subs(pattern, element)
    return expr


def _base(e) -> str | None:
    """The intermediate whose adjoint ``e`` is an element of (``\\overline{xc}_j`` -> xc)."""
    name = e.base.name if isinstance(e, sp.Indexed) else e.name if isinstance(e, sp.Symbol) else None
    if name is None:
        return None
    for prefix in (r"\bar{", r"\overline{"):
        if name.startswith(prefix) and name.endswith("}"):
            return name[len(prefix):-1]
    return None


def _substitute(adjoint: Adjoint, e, ranges) -> sp.Expr:
    at = e.indices if isinstance(e, sp.Indexed) else ()
    body = adjoint.index_form
    # fresh summation indices, so that none captures an index of ``at``
    body = body.replace(lambda s: isinstance(s, sp.Sum), lambda s: _fresh_sum(s, ranges))
    return body.xreplace(dict(zip(adjoint.indices, at)))


_FRESH = itertools.count()


def _fresh_sum(s: sp.Sum, ranges) -> sp.Sum:
    mapping, limits = {}, []
    for v, low, high in s.limits:
        new = sp.Symbol(f"k_{next(_FRESH)}", integer=True, positive=True)
        mapping[v] = new
        ranges[new] = high
        limits.append((new, low, high))
    return sp.Sum(s.function.xreplace(mapping), *limits)


def _collapsed_section(program: Program) -> Section | None:
    steps = []
    for name in program.inputs + program.parameters:
        adjoint = walk(program).get(name)
        if adjoint is None or not any(c.statement.name != name and program.readers(c.statement.name)
                                      for c in adjoint.parts):
            continue
        try:
            form, facts = collapsed_with_facts(program, name)
        except ProofError:
            form, facts = None, {}
        if form is not None and form != adjoint.index_form:
            steps += [Step(fact, (zero,), "Used, each proved by substituting the forward's definitions:")
                      for fact, zero in facts.items()]
            steps.append(Step(_lhs(name, adjoint.indices), (form,)))
    steps += through_max(program)
    if not steps:
        return None
    return Section("Collapsed", "The gradients with every intermediate's gradient substituted back "
                   "(the forward's intermediates kept by name), simplified and proved equal to the chain.",
                   steps)


# --- where a max's gradient cancels ---------------------------------------------------------

def through_max(program: Program) -> list[Step]:
    """The gradient of each intermediate a max reads, and of the max itself, collapsed
    through the statements after it (Backprop Ninja's logits: the gradient of
    logit_maxes is 0 and dlogits is (probs - onehot) / n), each proved equal to the chain.
    The first maximal entry's subgradient then drops out."""
    steps = []
    for statement in program.statements:
        if not statement.spec.expr.has(Extremum):
            continue
        for name in (statement.name,) + statement.operands:
            form = collapsed_through(program, name)
            if form is not None:
                adjoint = walk(program)[name]
                text = (f"`{name}`'s gradient through the statements after it, the chain's lines substituted "
                        "and the forward's definitions unfolded, proved equal to the chain:")
                steps.append(Step(_lhs(name, adjoint.indices), (form,), text))
    return steps


def collapsed_through(program: Program, name: str) -> sp.Expr | None:
    """dJ/d(name) for an intermediate: the gradients of the statements after it substituted
    back, those statements' algebraic definitions (no function applied) unfolded, summed
    and simplified, then written with their names again; proved equal to the chain.
    None where it is no shorter than COLLAPSE_LIMIT or still reads a max's subgradient."""
    adjoints = walk(program)
    adjoint = adjoints.get(name)
    if adjoint is None or program.defined(name) is None:
        return None
    order = [s.name for s in program.statements]
    later = set(order[order.index(name) + 1:])
    sizes = program_sizes(program)
    ranges = {}
    for a in adjoints.values():
        ranges.update(zip(a.indices, (sizes[d] for d in program.shapes[a.name])))
    expr = adjoint.index_form
    for _ in range(len(program.statements) + 1):
        found = [e for e in expr.atoms(sp.Indexed, sp.Symbol) if _base(e) in later]
        new = expr.xreplace({e: _substitute(adjoints[_base(e)], e, ranges) for e in found})
        if new == expr:
            break
        expr = new
    if any(_base(e) in later for e in expr.atoms(sp.Indexed, sp.Symbol)):
        return None
    classes = _class_symbols(program, expr, set(adjoint.indices), ranges)
    chain = collapse(expr.xreplace(classes), ranges)
    algebraic = {s.name for s in program.statements if s.name in later and s.spec.indices
                 and not any(isinstance(f, sp.Function) and not isinstance(f, sp.KroneckerDelta)
                             for f in s.spec.expr.atoms(sp.Function))}

    def unfold(e: sp.Expr) -> sp.Expr:
        for _ in range(len(program.statements)):
            found = {a: _definition(program, a, ranges) for a in e.atoms(sp.Indexed) if a.base.name in algebraic}
            if not found:
                break
            e = e.xreplace(found)
        return _one_dummy(e)

    unfolded = collapse(unfold(chain), ranges)
    simple = sp.simplify(unfolded)
    if simple.has(ArgExtremum) or sp.count_ops(simple) > COLLAPSE_LIMIT:
        return None
    for statement in reversed(program.statements):  # written with the names of the forward again
        if statement.name in algebraic and len(statement.spec.indices) == len(adjoint.indices):
            element = sp.IndexedBase(statement.name, real=True)[adjoint.indices]
            pattern = unfold(element)
            if simple.has(pattern):
                simple = simple.subs(pattern, element)
    if not equal(collapse(unfold(simple), ranges), unfolded):
        raise ProofError(f"dJ/d{name}: the collapsed gradient is not the chain's")
    return simple.xreplace({v: k for k, v in classes.items()})


def _class_symbols(program: Program, expr: sp.Expr, free: set, ranges) -> dict:
    """{Yb[l] + 1: y}: each class read at a free index (an integer array's element, counted
    from 0, is a valid class: 1 <= Yb[l] + 1 <= the size of the axis it picks), as a symbol
    with that range, so that the deltas on it sum away."""
    out = {}
    for statement in program.statements:
        for access in statement.spec.expr.atoms(sp.Indexed):
            for axis, sub in enumerate(access.indices):
                for gather in sub.atoms(sp.Indexed):
                    info = statement.spec.arrays.get(gather.base.name)
                    if info is None or not info.integer:
                        continue
                    size = program_sizes(program)[program.shapes[access.base.name][axis]]
                    for e in expr.atoms(sp.Indexed):
                        if e.base.name == gather.base.name and set(e.indices) <= free and e + 1 not in out:
                            symbol = sp.Symbol(f"_y{len(out)}", integer=True, positive=True)
                            out[e + 1] = symbol
                            ranges[symbol] = size
    return out


_DUMMY = sp.Symbol("_kappa", integer=True, positive=True)


def _one_dummy(expr: sp.Expr) -> sp.Expr:
    """Innermost sums over one index with one dummy name, so that equal sums compare equal."""
    def rename(s: sp.Sum) -> sp.Sum:
        if len(s.limits) != 1 or s.function.has(sp.Sum):
            return s
        (var, low, high), = s.limits
        return sp.Sum(s.function.xreplace({var: _DUMMY}), (_DUMMY, low, high))
    return expr.replace(lambda e: isinstance(e, sp.Sum), rename)


def stable_log(program: Program, statement: Statement) -> sp.Expr | None:
    """A statement ``v = log(u)`` where u is a ratio of exponentials (Karpathy's
    logprobs = log(probs), probs = counts / counts_sum, counts = exp(norm_logits)), written
    as norm_logits - log(counts_sum): the same for every value (exp of it is u, and
    counts_sum, a sum of exponentials, is positive), and finite where probs underflows to 0.
    In the program's sizes, at the statement's own indices; None for any other statement."""
    spec = statement.spec
    if not isinstance(spec.expr, sp.log) or not isinstance(spec.expr.args[0], sp.Indexed):
        return None
    sizes = program_sizes(program)
    ranges = {i: sizes[d] for i, d in zip(spec.indices, program.shapes[statement.name])}
    before = [s for s in program.statements if s is not statement][:program.statements.index(statement)]
    algebraic = {s.name for s in before if s.spec.indices and not s.spec.expr.atoms(sp.Function)}
    exponentials = {s.name for s in before if isinstance(s.spec.expr, sp.exp)}
    inner = spec.expr.args[0].xreplace(_size_map(spec, sizes))
    u = inner
    for _ in range(len(program.statements)):
        found = {a: _definition(program, a, ranges) for a in u.atoms(sp.Indexed) if a.base.name in algebraic}
        if not found:
            break
        u = u.xreplace(found)
    u = _one_dummy(u.xreplace({a: _definition(program, a, ranges) for a in u.atoms(sp.Indexed)
                               if a.base.name in exponentials}))
    if not u.has(sp.exp):
        return None
    form = sp.expand_log(sp.log(u), force=True)
    if form == sp.log(u) or not equal(sp.exp(form), u):
        return None
    for s in reversed(before):  # the sum of exponentials by its name again (counts_sum)
        if s.name in algebraic and s.spec.expr.has(sp.Sum):
            for access in sorted(form.atoms(sp.Sum), key=sp.default_sort_key):
                for candidate in _elements_at(program, s, access, ranges):
                    if _one_dummy(_definition(program, candidate, ranges).replace(
                            lambda e: isinstance(e, sp.Indexed) and e.base.name in exponentials,
                            lambda e: _definition(program, e, ranges))) == access:
                        form = form.xreplace({access: candidate})
    return form


def _elements_at(program: Program, statement: Statement, access: sp.Sum, ranges) -> list:
    """The elements of ``statement``'s output that a sum could be: at the free indices of the sum."""
    free = sorted(access.free_symbols & set(ranges), key=str)
    if len(free) != len(statement.spec.indices):
        return []
    return [sp.IndexedBase(statement.name, real=True)[tuple(order)] for order in itertools.permutations(free)]


def class_count(program: Program) -> int | None:
    """How many classes an integer target picks among (the size of the axis it subscripts);
    None where the target is not read inside a subscript (a one-hot or a real target)."""
    for statement in program.statements:
        for access in statement.spec.expr.atoms(sp.Indexed):
            for axis, sub in enumerate(access.indices):
                if any(g.base.name == program.target for g in sub.atoms(sp.Indexed)) or \
                        any(x.name == program.target for x in sub.free_symbols):
                    return program.shapes[access.base.name][axis]
    return None
