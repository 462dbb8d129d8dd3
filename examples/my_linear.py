"""A Linear layer written by hand, as the tutorial teaches, with two bugs for `derive check` to find.

From the checkout's root, `derive check examples/my_linear.py:MyLinear --input-shape 3 --args 3 3`
names both (exit status 1); the site's Command line page runs it when it is built and shows the
report, and the README gives the command.
"""

import numpy as np

from derive.nn import Module


class MyLinear(Module):
    """y = W x + b; a batch X (batch, inputSize) gives X W^T + b."""

    def __init__(self, inputSize, outputSize):
        super().__init__()
        rng = np.random.default_rng(0)
        self.weight = rng.uniform(-1, 1, (outputSize, inputSize))
        self.bias = rng.uniform(-1, 1, outputSize)
        self.gradWeight = np.zeros((outputSize, inputSize))
        self.gradBias = np.zeros(outputSize)

    def updateOutput(self, input):
        self.output = input @ self.weight.T + self.bias
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.weight
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight += scale * (x.T @ g)            # bug: g^T x is meant
        self.gradBias += scale * g.mean(axis=0)         # bug: the sum over the batch is meant
