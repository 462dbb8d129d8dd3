"""The site's search index as a reader searches it: math as text (∂J/∂W = (∂J/∂y) xᵀ), not TeX.

mkdocs' search index holds each section's HTML text, math included as the TeX that MathJax
typesets on the page (``\\frac{\\partial J}{\\partial \\mathbf{W}}``): search results would show
it raw. :func:`readable_search_index` rewrites every ``\\(...\\)`` and ``\\[...\\]`` of the
index with :func:`plain_math`; the mkdocs hook runs it on search/search_index.json after the
search plugin has written it.
"""

from __future__ import annotations

import json
import re

# TeX commands and the characters a reader sees for them.
SYMBOLS = {
    "partial": "∂", "odot": "⊙", "sum": "Σ", "prod": "Π", "cdot": "·", "times": "×", "cdots": "⋯",
    "vdots": "⋮", "ddots": "⋱", "ldots": "…", "dots": "…", "leftarrow": "←", "rightarrow": "→",
    "to": "→", "in": "∈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠",
    "approx": "≈", "infty": "∞", "nabla": "∇", "circ": "∘", "prime": "′", "top": "ᵀ", "pm": "±",
    "mid": "|", "vert": "|", "lvert": "|", "rvert": "|", "quad": " ", "qquad": " ", "varepsilon": "ε",
    "epsilon": "ϵ", "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "zeta": "ζ", "eta": "η",
    "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ",
    "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "left": "", "right": "", "big": "", "Big": "", "bigg": "", "Bigg": "", "displaystyle": "",
    "limits": "", "nolimits": "",
}
# Commands whose one argument is shown as it is (bold, upright, text).
PLAIN = {"mathbf", "mathrm", "boldsymbol", "operatorname", "text", "textrm", "mathit", "mathsf", "mathcal",
         "bm", "textbf", "texttt", "mathtt"}
SUBSCRIPTS = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))
SUPERSCRIPTS = dict(zip("0123456789+-=()inT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿᵀ"))

_MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", re.S)


def _group(tex: str, start: int) -> tuple[str, int]:
    """The argument at ``start``: a {balanced group} or one character (or one command)."""
    while start < len(tex) and tex[start] == " ":
        start += 1
    if start >= len(tex):
        return "", start
    if tex[start] == "{":
        depth = 0
        for end in range(start, len(tex)):
            depth += {"{": 1, "}": -1}.get(tex[end], 0)
            if depth == 0:
                return tex[start + 1:end], end + 1
        return tex[start + 1:], len(tex)
    command = re.match(r"\\[A-Za-z]+", tex[start:])
    if command:
        return command.group(0), start + command.end()
    return tex[start], start + 1


def _script(text: str, table: dict[str, str], mark: str) -> str:
    """A sub- or superscript in Unicode where it has the characters (x₁, xᵀ, n⁻¹), else x_(ij)."""
    compact = text.replace(" ", "").replace(",", "")
    if compact and all(c in table for c in compact):
        return "".join(table[c] for c in compact)
    return mark + (text if len(text) == 1 else f"({text})")


def _bracketed(text: str) -> str:
    return text if re.fullmatch(r"[\w∂.′ᵀ⁰-⁹₀-₉ₐ-ₜ]+|∂\s?\S+|\(.*\)", text) else f"({text})"


def plain_math(tex: str) -> str:
    """TeX as a reader reads it: ``\\frac{\\partial J}{\\partial y_{1}}`` -> ``∂J/∂y₁``."""
    out, k = [], 0
    while k < len(tex):
        char = tex[k]
        if char == "\\":
            command = re.match(r"\\([A-Za-z]+|.)", tex[k:])
            name, k = command.group(1), k + command.end()
            if name == "frac" or name in ("dfrac", "tfrac"):
                top, k = _group(tex, k)
                bottom, k = _group(tex, k)
                out.append(f"{_bracketed(plain_math(top))}/{_bracketed(plain_math(bottom))}")
            elif name == "sqrt":
                argument, k = _group(tex, k)
                out.append(f"√{_bracketed(plain_math(argument))}")
            elif name == "hat":
                argument, k = _group(tex, k)
                out.append(plain_math(argument) + "\u0302")
            elif name in PLAIN:
                argument, k = _group(tex, k)
                out.append(plain_math(argument))
            elif name in ("begin", "end"):
                environment, k = _group(tex, k)
                if environment in ("bmatrix", "pmatrix", "matrix"):
                    out.append({"begin": "[", "end": "]"}[name] if environment != "matrix" else "")
            elif name == "\\":  # a new row: \\ or \\[1ex]
                spacing = re.match(r"\[[^\]]*\]", tex[k:])
                k += spacing.end() if spacing else 0
                out.append("; ")
            elif name in (",", ";", ":", " ", "!"):
                out.append("" if name == "!" else " ")
            elif name in "{}()[]|%$#&_":
                out.append(name)
            elif name in SYMBOLS:
                out.append(SYMBOLS[name])
            else:  # a function's name (\tanh) or a command unknown here: its name, apart from what follows
                out.append(name + (" " if tex[k:k + 1] == "{" else ""))
        elif char in "_^":
            argument, k = _group(tex, k + 1)
            text = plain_math(argument)
            out.append(_script(text, SUBSCRIPTS, "_") if char == "_" else _script(text, SUPERSCRIPTS, "^"))
        elif char in "{}":
            k += 1
        elif tex.startswith("&amp;", k):  # an alignment point, a matrix's column (the index is HTML)
            k += 5
            out.append(" ")
        else:
            out.append(char)
            k += 1
    text = re.sub(r"\s+", " ", "".join(out))
    return re.sub(r"\s*;\s*\]", " ]", text.replace("∂ ", "∂")).strip()  # a matrix's last row ends with \\


def readable_text(html: str) -> str:
    """The index's HTML text with each ``\\(...\\)`` and ``\\[...\\]`` as :func:`plain_math`."""
    return _MATH.sub(lambda m: plain_math(m.group(1) if m.group(1) is not None else m.group(2)), html)


def readable_search_index(index_json: str) -> str:
    """search_index.json with the math of every entry's title and text made readable."""
    index = json.loads(index_json)
    for doc in index["docs"]:
        for key in ("title", "text"):
            if key in doc:
                doc[key] = readable_text(doc[key])
    return json.dumps(index, ensure_ascii=False, separators=(",", ":"))
