"""The tutorial's layer (Torch NN Tutorial 6, backward propagation part 3), what it
prints, and what derive.nn computes for it.
"""

from __future__ import annotations

import numpy as np

from derive.nn import Linear


# The tutorial this site follows, and its notebooks.
TUTORIAL_TITLE = "Torch NN Tutorial 6 : Backward Propagation ( part 3 : nn.Module )"
TUTORIAL_AUTHOR = "Mark Chang"
TUTORIAL_URL = "https://ckmarkoh.github.io/blog/2017/01/01/torch-nn-tutorial-6-backward-propagation-part-3/"
TUTORIAL_NOTEBOOKS_URL = "https://github.com/ckmarkoh/torch_nn_tutorials"
TUTORIAL_NOTEBOOK_URL = TUTORIAL_NOTEBOOKS_URL + "/blob/master/6_backward_propagation_part_3.ipynb"


def tutorial_credit() -> str:
    """The tutorial, its author and its notebooks, as markdown links."""
    return (f"[*{TUTORIAL_TITLE}*]({TUTORIAL_URL}) by {TUTORIAL_AUTHOR} (its notebook: "
            f"[6_backward_propagation_part_3.ipynb]({TUTORIAL_NOTEBOOK_URL}) in "
            f"[ckmarkoh/torch_nn_tutorials]({TUTORIAL_NOTEBOOKS_URL}))")


# nn.Linear(2 -> 3) with these parameters, input x, dJ/dy from the next layer,
# and a learning rate for updateParameters.
TUTORIAL_WEIGHT = ((0.1453, 0.5062), (0.0635, 0.4911), (-0.1080, 0.1747))
TUTORIAL_BIAS = (0.2063, -0.1635, -0.0883)
TUTORIAL_INPUT = (4.0, 5.0)
TUTORIAL_GRAD_OUTPUT = (1.0, 2.0, 3.0)
TUTORIAL_LEARNING_RATE = 0.02
# Torch prints 4 decimals, trailing zeros kept (-0.1080); the pages show the tutorial's numbers so.
TUTORIAL_DECIMALS = 4
# What the tutorial prints for them (Torch rounds to 4 decimals).
TUTORIAL_PRINTS = {
    "gradInput": (-0.0516, 2.0126),
    "gradWeight": ((4, 5), (8, 10), (12, 15)),
    "gradBias": (1, 2, 3),
    "weight": ((0.0653, 0.4062), (-0.0965, 0.2911), (-0.3480, -0.1253)),
    "bias": (0.1863, -0.2035, -0.1483),
}


def four_decimals(values) -> str:
    """Numbers to four decimals, as Torch prints them, separated by commas."""
    return ", ".join(f"{float(v):.{TUTORIAL_DECIMALS}f}" for v in values)


def tutorial_layer() -> Linear:
    """derive.nn.Linear(2, 3) with the tutorial's weight and bias."""
    layer = Linear(2, 3)
    layer.weight[...] = TUTORIAL_WEIGHT
    layer.bias[...] = TUTORIAL_BIAS
    return layer


def tutorial_numbers() -> dict[str, np.ndarray]:
    """gradInput, gradWeight, gradBias, and weight and bias after one update,
    computed by derive.nn.Linear from the tutorial's layer and numbers."""
    layer = tutorial_layer()
    x, dJ_dy = np.array(TUTORIAL_INPUT), np.array(TUTORIAL_GRAD_OUTPUT)
    layer.zeroGradParameters()
    layer.forward(x)
    gradInput = layer.backward(x, dJ_dy).copy()
    numbers = {
        "gradInput": gradInput,
        "gradWeight": layer.gradWeight.copy(),
        "gradBias": layer.gradBias.copy(),
    }
    layer.updateParameters(TUTORIAL_LEARNING_RATE)
    numbers["weight"] = layer.weight.copy()
    numbers["bias"] = layer.bias.copy()
    return numbers
