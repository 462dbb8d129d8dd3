"""Hand-written torch.autograd.Functions, right and with planted bugs, one a class, for the
tests of `derive check` on PyTorch code. Each works for one sample (1-D) and a batch (2-D)."""

import torch


def rows(t):
    return t if t.dim() == 2 else t[None]


class TanhLinear(torch.autograd.Function):
    """y = tanh(W x + b), right."""

    @staticmethod
    def forward(ctx, x, W, b):
        y = torch.tanh(x @ W.T + b)
        ctx.save_for_backward(x, W, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, W, y = ctx.saved_tensors
        d = g * (1 - y * y)
        grad_b = rows(d).sum(0)
        return d @ W, rows(d).T @ rows(x), grad_b


class TransposedGradW(torch.autograd.Function):
    """y = W x + b, gradW = x^T g where g^T x is meant (silent for a square W)."""

    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W)
        return x @ W.T + b

    @staticmethod
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        return g @ W, rows(x).T @ rows(g), rows(g).sum(0)


class MissingGradOutput(torch.autograd.Function):
    """y = tanh(x), backward 1 - y^2: it forgot to multiply by grad_output (pytorch #2710)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return 1 - y * y


class WrongSign(torch.autograd.Function):
    """y = exp(-x), backward g exp(-x): the sign of the inner derivative lost."""

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(-x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class HalfSquare(torch.autograd.Function):
    """y = x^2, backward g x: the factor 2 forgotten."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class MeanGradBias(torch.autograd.Function):
    """y = W x + b, gradb the mean of g over the batch where the sum is meant."""

    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W)
        return x @ W.T + b

    @staticmethod
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        return g @ W, rows(g).T @ rows(x), rows(g).mean(0)


class OtherInputsGradient(torch.autograd.Function):
    """y = x * w (element-wise), gradInput g x: the gradient of w given as x's."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * x, rows(g * x).sum(0)


class TanhLayer(torch.nn.Module):
    """An nn.Module whose forward applies the right TanhLinear, parameters W and b."""

    def __init__(self, n_in=3, n_out=2):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(n_out, n_in))
        self.b = torch.nn.Parameter(torch.randn(n_out))

    def forward(self, x):
        return TanhLinear.apply(x, self.W, self.b)


class MeanBiasLayer(torch.nn.Module):
    """An nn.Module with the MeanGradBias bug inside."""

    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(2, 3))
        self.b = torch.nn.Parameter(torch.randn(2))

    def forward(self, x):
        return MeanGradBias.apply(x, self.W, self.b)


class MSE(torch.autograd.Function):
    """J = mean((x - t)^2), right (for a batch, the mean over every entry: the mean of the samples')."""

    @staticmethod
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        return ((x - t) ** 2).mean()

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        return grad_output * 2 * (x - t) / x.numel(), None


class MSEWithoutTwo(MSE):
    """J = mean((x - t)^2), its gradient (x - t) / N: the 2 of the square forgotten."""

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        return grad_output * (x - t) / x.numel(), None
