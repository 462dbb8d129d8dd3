"""Notes on the tutorial: its slips, each next to the correct version, and the layout
convention.
"""

from __future__ import annotations

import numpy as np

from .tutorial import TUTORIAL_GRAD_OUTPUT, TUTORIAL_PRINTS, TUTORIAL_WEIGHT, four_decimals, tutorial_numbers


_TUTORIAL_SLIPS = [
    (
        "Δ<sub>W</sub> written where Δ<sub>b</sub> is meant",
        "In the gradBias part, the formula for `gradBias` names its left side "
        "\\(\\Delta_\\mathbf{W}\\), the weight's gradient; it is \\(\\Delta_\\mathbf{b}\\).",
        r"\Delta_\textbf{W} = \frac{\partial J}{\partial \textbf{b}} = \frac{\partial J}{\partial \textbf{y}} \frac{\partial \textbf{y}}{\partial \textbf{b}}",
        r"\Delta_\mathbf{b} = \frac{\partial J}{\partial \mathbf{b}} = \frac{\partial J}{\partial \mathbf{y}} \frac{\partial \mathbf{y}}{\partial \mathbf{b}}",
    ),
    (
        "Wrong indices in the ∂J/∂b matrix",
        "Row \\(i\\) of \\(\\partial J / \\partial \\mathbf{b}\\) is "
        "\\(\\sum_k \\frac{\\partial J}{\\partial y_k}\\frac{\\partial y_k}{\\partial b_i}\\), of which "
        "only \\(k = i\\) is non-zero. The tutorial's second and third rows use \\(y_1\\) and "
        "\\(y_2\\) where \\(y_2\\) and \\(y_3\\) belong.",
        "\\begin{bmatrix}\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{1}} \\" "\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{2}} \\" "\n"
        r"\frac{\partial J}{\partial y_{2}} \frac{\partial y_{2}}{\partial b_{3}} \\" "\n"
        "\\end{bmatrix}",
        "\\begin{bmatrix}\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{1}} \\" "\n"
        r"\frac{\partial J}{\partial y_{2}} \frac{\partial y_{2}}{\partial b_{2}} \\" "\n"
        r"\frac{\partial J}{\partial y_{3}} \frac{\partial y_{3}}{\partial b_{3}} \\" "\n"
        "\\end{bmatrix}",
    ),
    (
        "Missing ∂ in the numerators of the Jacobian tables",
        "In the middle step of \\(\\partial \\mathbf{y}/\\partial \\mathbf{x}\\), "
        "\\(\\partial \\mathbf{y}/\\partial \\mathbf{W}\\) and \\(\\partial \\mathbf{y}/\\partial \\mathbf{b}\\) "
        "each entry has \\(\\partial\\) in the denominator only, which reads as a quotient; "
        "the derivative of the expression is meant. One entry of each table:",
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial x_{1}} \quad "
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial w_{11}} \quad "
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial b_{1}}",
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial x_{1}} \quad "
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial w_{11}} \quad "
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial b_{1}}",
    ),
    (
        "Products where sums are meant in the W<sup>T</sup>g example",
        "A 2 x 3 matrix times a 3-vector is a 2-vector whose entries are sums of "
        "products; the tutorial lays the six products out as a 2 x 3 matrix and then jumps "
        "to the 2-vector. With the numbers of the example (computed when this page was built):",
        None,  # made from the numbers, see _wtg_slip
        None,
    ),
    (
        "x written as a row inside a column bmatrix",
        "In the forward pass \\(\\mathbf{x}\\) lacks the row break `\\\\` between its entries, "
        "so it renders as one cell \\(x_1 x_2\\) (a product) instead of a column:",
        "\\begin{bmatrix}\nx_{1}\nx_{2}\n\\end{bmatrix}",
        "\\begin{bmatrix}\nx_{1} \\\\\nx_{2}\n\\end{bmatrix}",
    ),
]


def _bmatrix(rows) -> str:
    return "\\begin{bmatrix}\n" + " \\\\\n".join(" & ".join(row) for row in rows) + "\n\\end{bmatrix}"


def _wtg_slip() -> tuple[str, str]:
    """The tutorial's W^T g example (products in a 2 x 3 matrix) and the correct sums."""
    weight_t = np.array(TUTORIAL_WEIGHT).T
    g = np.array(TUTORIAL_GRAD_OUTPUT)

    def factor(value: float) -> str:
        text = f"{value:.4f}"
        return f"({text})" if value < 0 else text

    def times(w: float, v: float) -> str:
        return f"{factor(w)} \\times {int(v)}"

    products = [[times(w, v) for w, v in zip(row, g)] for row in weight_t]
    tutorial = _bmatrix([[p.replace("(", "").replace(")", "") for p in row] for row in products])
    sums = [[" + ".join(row)] for row in products]
    values = [[f"{value:.4f}"] for value in weight_t @ g]
    return tutorial, f"{_bmatrix(sums)}\n= {_bmatrix(values)}"


def tutorial_notes_page() -> str:
    """The tutorial's slips, each next to the correct version, and the layout convention."""
    parts = [
        "# Notes on the tutorial",
        "The tutorial (Torch NN Tutorial 6, backward propagation part 3) gets its results "
        "right; a few formulas on the way have slips. Each is quoted as the tutorial writes "
        "it (rendered here), next to the correct version. The derivations on this site have "
        "every displayed equality checked by sympy when the site is built.",
    ]
    for number, (title, text, wrong, right) in enumerate(_TUTORIAL_SLIPS, 1):
        if wrong is None:
            wrong, right = _wtg_slip()
        parts += [
            f"## {number}. {title}",
            text,
            "The tutorial:",
            f"$$\n{wrong}\n$$",
            "Correct:",
            f"$$\n{right}\n$$",
        ]
    grad_input = four_decimals(tutorial_numbers()["gradInput"])
    parts += [
        "## Layout convention",
        "derive writes Jacobians in **numerator layout**: for \\(\\mathbf{y}\\) with \\(m\\) "
        "entries and \\(\\mathbf{x}\\) with \\(n\\), \\(\\partial \\mathbf{y} / \\partial \\mathbf{x}\\) "
        "is the \\(m \\times n\\) matrix with entries "
        "\\(\\left(\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\right)_{ik} = "
        "\\frac{\\partial y_i}{\\partial x_k}\\). For \\(\\mathbf{y} = \\mathbf{W}\\mathbf{x} + "
        "\\mathbf{b}\\) it is \\(\\mathbf{W}\\) itself: \\(3 \\times 2\\) for `nn.Linear(2 -> 3)`, "
        "the shape of `weight`. The gradient of the scalar loss \\(J\\) has the shape of what "
        "it differentiates by: \\(\\partial J / \\partial \\mathbf{x}\\) is a column of \\(n\\), "
        "\\(\\partial J / \\partial \\mathbf{W}\\) is \\(m \\times n\\) like \\(\\mathbf{W}\\). The "
        "chain rule in these shapes reads",
        "$$\n"
        "\\frac{\\partial J}{\\partial \\mathbf{x}} = "
        "\\left(\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\right)^{T} "
        "\\frac{\\partial J}{\\partial \\mathbf{y}} = \\mathbf{W}^{T} "
        "\\frac{\\partial J}{\\partial \\mathbf{y}}\n$$",
        "which is what the tutorial computes. Its shorthand "
        "\\(\\frac{\\partial J}{\\partial \\mathbf{y}}\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\) "
        "is the same product with \\(\\partial J / \\partial \\mathbf{y}\\) taken as a row. "
        "(sympy's `(W*x + b).diff(x)` returns \\(\\mathbf{W}^{T}\\): it puts the variable's "
        "index first, the denominator layout.)",
        "## Also worth knowing",
        "- \\(\\partial \\mathbf{y} / \\partial \\mathbf{W}\\) has three indices "
        "(\\(\\partial y_i / \\partial w_{jk} = \\delta_{ij} x_k\\)); the tutorial's 3 x 2 table "
        "is its only non-zero slice, \\(j = i\\). Likewise "
        "\\(\\partial \\mathbf{y} / \\partial \\mathbf{b}\\) is the 3 x 3 identity, whose diagonal "
        "the tutorial writes as a column of ones.\n"
        "- Torch leaves `gradWeight` and `gradBias` uninitialised, hence the tutorial's "
        "garbage before `zeroGradParameters`; `derive.nn.Linear` starts them at zero.\n"
        f"- The printed `gradInput` (\\({four_decimals(TUTORIAL_PRINTS['gradInput'])}\\)) comes from the unrounded "
        f"random weights; the four-decimal \\(\\mathbf{{W}}\\) shown gives "
        f"\\({grad_input}\\): see [Numeric checks](numeric-checks.md).",
    ]
    return "\n\n".join(parts) + "\n"
