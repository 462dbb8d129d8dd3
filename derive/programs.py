"""The layers courses derive by hand, each written as a program of the layer language.

One entry a layer: its text, the shapes to show it at, its inputs and outputs (a table
module when there are several), and a few words.  The site builds one page from each
with one template (:mod:`derive.site.programs`); the tests check each generated module
against PyTorch's autograd.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgramEntry:
    """A layer written as a program, with what its page and its module need."""

    slug: str
    title: str
    text: str
    shapes: dict[str, tuple[int, ...]]
    about: str
    input: tuple[str, ...] = ("x",)
    outputs: tuple[str, ...] | None = None
    target: str | None = None
    name: str = "Layer"
    extra: dict = field(default_factory=dict)

    @property
    def options(self) -> dict:
        """The keyword arguments of derive.layer / derive.module_source besides text and shapes."""
        out = {"input": self.input if len(self.input) > 1 else self.input[0]}
        if self.outputs is not None:
            out["outputs"] = self.outputs
        if self.target is not None:
            out["target"] = self.target
        return out

    @property
    def command(self) -> str:
        """The CLI call that derives it (the program read from a file)."""
        parts = [f"derive layer --file {self.slug}.txt"]
        parts += [f"--shape {n}={','.join(map(str, s))}" for n, s in self.shapes.items()]
        if self.input != ("x",):
            parts.append(f"--input {','.join(self.input)}")
        if self.outputs is not None:
            parts.append(f"--outputs {','.join(self.outputs)}")
        if self.target is not None:
            parts.append(f"--target {self.target}")
        return " ".join(parts)


PROGRAMS = (
    ProgramEntry(
        "affine-relu", "Affine + ReLU",
        "z = W @ x + b\ny = relu(z)",
        {"x": (4,), "W": (3, 4)},
        "CS231n's first layer: an affine map, then a rectifier. The ReLU's gradient passes "
        "where z > 0 (Torch's relu'(0) = 0).", name="AffineReLU"),
    ProgramEntry(
        "layernorm", "LayerNorm",
        "mu = mean(x)\nxc = x - mu\nvar = mean(xc**2)\nxhat = xc / sqrt(var + 1e-5)\ny = gamma * xhat + beta",
        {"x": (5,)},
        "Normalisation over the features of one sample. xc is read by two statements (the "
        "variance and the normalisation): its gradient sums both contributions.", name="LayerNorm"),
    ProgramEntry(
        "batchnorm", "BatchNorm (training)",
        "mu[j] = mean(x[i,j], i)\nxc[i,j] = x[i,j] - mu[j]\nvar[j] = mean(xc[i,j]**2, i)\n"
        "xhat[i,j] = xc[i,j] / sqrt(var[j] + 1e-5)\ny[i,j] = gamma[j] * xhat[i,j] + beta[j]",
        {"x": (4, 3)},
        "Backprop Ninja's BatchNorm chain, in index notation: the statistics run over the "
        "batch (index i), so the whole batch of 4 samples is the layer's input.", name="BatchNorm"),
    ProgramEntry(
        "groupnorm", "GroupNorm",
        "mu[a] = mean(x[a,c], c)\nxc[a,c] = x[a,c] - mu[a]\nvar[a] = mean(xc[a,c]**2, c)\n"
        "xhat[a,c] = xc[a,c] / sqrt(var[a] + 1e-5)\ny[a,c] = gamma[a,c] * xhat[a,c] + beta[a,c]",
        {"x": (2, 3)},
        "One sample's 6 channels in 2 groups of 3 (the input laid out as groups x channels): "
        "the statistics run over each group (index c), the scale and shift are per channel.",
        name="GroupNorm"),
    ProgramEntry(
        "rnn-step", "RNN step",
        "z = Wx @ x + Wh @ h + b\nh2 = tanh(z)",
        {"x": (3,), "h": (4,), "Wx": (4, 3), "Wh": (4, 4)},
        "One step of a vanilla RNN: two inputs (x and the previous state h), a table module.",
        input=("x", "h"), name="RNNStep"),
    ProgramEntry(
        "lstm-step", "LSTM step",
        "ig = sigmoid(Wi @ x + Ui @ h + bi)\nfg = sigmoid(Wf @ x + Uf @ h + bf)\n"
        "og = sigmoid(Wo @ x + Uo @ h + bo)\nu = tanh(Wu @ x + Uu @ h + bu)\n"
        "c2 = fg * c + ig * u\nh2 = og * tanh(c2)",
        {"x": (3,), "h": (2,), "c": (2,), "Wi": (2, 3), "Wf": (2, 3), "Wo": (2, 3), "Wu": (2, 3),
         "Ui": (2, 2), "Uf": (2, 2), "Uo": (2, 2), "Uu": (2, 2)},
        "One step of an LSTM: inputs x, h, c; outputs h2 and c2. c2 is an output and is read "
        "by h2's statement: its gradient is the one it receives plus h2's contribution.",
        input=("x", "h", "c"), outputs=("h2", "c2"), name="LSTMStep"),
    ProgramEntry(
        "gru-step", "GRU step",
        "r = sigmoid(Wr @ x + Ur @ h + br)\nzg = sigmoid(Wz @ x + Uz @ h + bz)\n"
        "n = tanh(Wn @ x + bn + r * (Un @ h + bhn))\nh2 = (1 - zg) * n + zg * h",
        {"x": (3,), "h": (2,), "Wr": (2, 3), "Wz": (2, 3), "Wn": (2, 3), "Ur": (2, 2), "Uz": (2, 2), "Un": (2, 2)},
        "One step of a GRU, as PyTorch's GRUCell computes it (the reset gate scales "
        "U_n h + b_hn). h is read by four statements.", input=("x", "h"), name="GRUStep"),
    ProgramEntry(
        "attention", "Single-head attention",
        "Q = X @ Wq\nK = X @ Wk\nV = X @ Wv\nS[t,u] = sum(Q[t,k] * K[u,k], k) / sqrt(len(k))\n"
        "P[t,u] = exp(S[t,u]) / sum(exp(S[t,v]), v)\nY = P @ V",
        {"X": (3, 4), "Wq": (4, 4), "Wk": (4, 4), "Wv": (4, 4)},
        "softmax(Q K^T / sqrt(d)) V with learned projections, d = 4 (so sqrt(d) = 2); the "
        "softmax over each row in index notation. X is read by three statements. len(k) is d, "
        "the size k runs over, so one module takes every d.",
        input=("X",), name="Attention"),
    ProgramEntry(
        "mlp3", "3-layer tanh MLP",
        "z1 = W1 @ x + b1\nh1 = tanh(z1)\nz2 = W2 @ h1 + b2\nh2 = tanh(z2)\ny = W3 @ h2 + b3",
        {"x": (3,), "W1": (4, 3), "W2": (4, 4), "W3": (2, 4)},
        "Three Linear layers with tanh between them, 3 -> 4 -> 4 -> 2: one short line a step.",
        name="MLP3"),
    ProgramEntry(
        "ninja", "Backprop Ninja's network",
        "hprebn[i,j] = sum(W1[j,k] * x[i,k], k) + b1[j]\nbnmeani[j] = mean(hprebn[i,j], i)\n"
        "bndiff[i,j] = hprebn[i,j] - bnmeani[j]\nbnvar[j] = mean(bndiff[i,j]**2, i)\n"
        "bnraw[i,j] = bndiff[i,j] / sqrt(bnvar[j] + 1e-5)\nhpreact[i,j] = bngain[j] * bnraw[i,j] + bnbias[j]\n"
        "h[i,j] = tanh(hpreact[i,j])\nlogits[i,c] = sum(W2[c,j] * h[i,j], j) + b2[c]\n"
        "logit_maxes[i] = max(logits[i,c], c)\nnorm_logits[i,c] = logits[i,c] - logit_maxes[i]\n"
        "counts[i,c] = exp(norm_logits[i,c])\ncounts_sum[i] = sum(counts[i,c], c)\n"
        "counts_sum_inv[i] = 1 / counts_sum[i]\nprobs[i,c] = counts[i,c] * counts_sum_inv[i]\n"
        "logprobs[i,c] = log(probs[i,c])\nJ = -mean(logprobs[i, Yb[i]], i)",
        {"x": (4, 3), "W1": (5, 3), "W2": (3, 5), "Yb": (4,)},
        "Karpathy's \"Becoming a Backprop Ninja\" network on a batch of 4, statement for statement "
        "as he writes it (the batch is the input: BatchNorm's statistics couple the samples): "
        "Linear, BatchNorm (training, biased variance as Torch), tanh, Linear, and cross-entropy "
        "with his max-shift of the logits, against integer class targets Yb (counted from 0, as "
        "PyTorch's). The max passes its gradient to the first largest logit of each row, as "
        "torch.max does; that gradient is 0, since a shift of the logits does not change the "
        "probabilities, and the collapsed dlogits is (probs - onehot) / n, both proved.",
        target="Yb", name="Ninja"),
    ProgramEntry(
        "softmax-regression", "Linear + cross-entropy (a criterion with parameters)",
        "z = W @ x + b\nlp = z - log(sum(exp(z)))\nJ = -sum(t * lp)",
        {"x": (4,), "W": (3, 4), "t": (3,)},
        "A whole model with its loss as one program: a Linear layer, log-softmax and the "
        "negative log-likelihood of a one-hot target t. It is a criterion with parameters: "
        "forward(input, target) is the loss, backward(input, target) gradInput, and the "
        "parameters' gradients accumulate.", target="t", name="SoftmaxRegression"),
)
