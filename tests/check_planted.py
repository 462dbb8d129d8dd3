"""Modules with planted bugs, one a class, for the tests of derive.nn.check (and the CLI's)."""

import numpy as np

from derive.nn import Criterion, Linear, Module, MSECriterion


class TransposedGradWeight(Linear):
    """gradWeight += scale x g^T: the transpose of g x^T (silent for a square weight)."""

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight += scale * (x.T @ g)
        self.gradBias += scale * g.sum(axis=0)


class IgnoredScale(Linear):
    """Adds 1x the gradient whatever the scale."""

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight += g.T @ x
        self.gradBias += g.sum(axis=0)


class AveragedGradBias(Linear):
    """gradBias takes the mean of gradOutput over the batch instead of the sum."""

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight += scale * (g.T @ x)
        self.gradBias += scale * g.mean(axis=0)


class FirstSampleGradBias(Linear):
    """gradBias takes the first sample of the batch only."""

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight += scale * (g.T @ x)
        self.gradBias += scale * g[0]


class SigmoidAtInput(Module):
    """Sigmoid whose derivative is taken at the input: g x (1 - x) where g y (1 - y) is meant."""

    def updateOutput(self, input):
        self.output = 1 / (1 + np.exp(-input))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * input * (1 - input)
        return self.gradInput


class SigmoidOverwritesGradOutput(Module):
    """Sigmoid that writes gradInput into gradOutput instead of computing a new array."""

    def updateOutput(self, input):
        self.output = 1 / (1 + np.exp(-input))
        return self.output

    def updateGradInput(self, input, gradOutput):
        gradOutput *= self.output * (1 - self.output)
        self.gradInput = gradOutput
        return self.gradInput


class PassThrough(Module):
    """Tanh whose gradInput is gradOutput, not computed."""

    def updateOutput(self, input):
        self.output = np.tanh(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput
        return self.gradInput


class DoubledMSE(MSECriterion):
    """MSECriterion whose gradient is 4 (x - t) / n: twice the right one."""

    def updateGradInput(self, input, target):
        self.gradInput = 4 * (input - target) / (input.size if self.sizeAverage else 1)
        return self.gradInput


class NoOutput(Criterion):
    """Not a module a user means: forward raises."""

    def updateOutput(self, input, target):
        raise RuntimeError("forgot to write updateOutput")


class OverwritingGradWeight(Linear):
    """accGradParameters assigns (=) where it should add (+=)."""

    def accGradParameters(self, input, gradOutput, scale=1.0):
        x, g = np.atleast_2d(input), np.atleast_2d(gradOutput)
        self.gradWeight[...] = scale * (g.T @ x)
        self.gradBias[...] = scale * g.sum(axis=0)


class AddingUpdate(Linear):
    """updateParameters adds the gradient: gradient ascent."""

    def updateParameters(self, learningRate):
        self.weight += learningRate * self.gradWeight
        self.bias += learningRate * self.gradBias


class StickyGradients(Linear):
    """zeroGradParameters does nothing."""

    def zeroGradParameters(self):
        pass


class AccumulatingGradInput(Module):
    """Tanh whose gradInput is added to, not computed: a second backward doubles it."""

    def updateOutput(self, input):
        self.output = np.tanh(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.gradInput.shape != input.shape:
            self.gradInput = np.zeros(input.shape)
        self.gradInput += gradOutput * (1 - self.output**2)
        return self.gradInput


class SlightlyOff(Module):
    """y = 3 x with a gradient 3.0003 g: a relative error of 1e-4."""

    def updateOutput(self, input):
        self.output = 3 * input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = 3.0003 * gradOutput
        return self.gradInput


class Unpicklable(Module):
    """A correct Tanh that holds a lambda, so it cannot be pickled."""

    def __init__(self):
        super().__init__()
        self.activation = lambda x: np.tanh(x)

    def updateOutput(self, input):
        self.output = self.activation(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * (1 - self.output**2)
        return self.gradInput


class SquareAtOutput(Module):
    """y = x^2 with the derivative 2x taken at the output: 2 y g."""

    def updateOutput(self, input):
        self.output = input**2
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = 2 * self.output * gradOutput
        return self.gradInput


class ClassNLL(Criterion):
    """Torch's ClassNLLCriterion on log-probabilities, 0-based classes: J = -mean_b input[b, target[b]]."""

    def __init__(self, sign=1.0):
        super().__init__()
        self.sign = sign

    def updateOutput(self, input, target):
        rows = np.atleast_2d(input)
        self.output = -float(np.mean(rows[np.arange(len(rows)), np.atleast_1d(target)]))
        return self.output

    def updateGradInput(self, input, target):
        rows = np.atleast_2d(input)
        grad = np.zeros(rows.shape)
        grad[np.arange(len(rows)), np.atleast_1d(target)] = -self.sign / len(rows)
        self.gradInput = grad.reshape(input.shape)
        return self.gradInput


class WrongSignNLL(ClassNLL):
    """ClassNLL whose gradient has the wrong sign."""

    def __init__(self):
        super().__init__(sign=-1.0)


class TanhOverwritesOutput(Module):
    """Tanh whose gradInput is computed in the output's buffer, so backward destroys the output."""

    def updateOutput(self, input):
        self.output = np.tanh(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self.output
        self.gradInput *= self.output
        np.subtract(1, self.gradInput, out=self.gradInput)
        self.gradInput *= gradOutput
        return self.gradInput
