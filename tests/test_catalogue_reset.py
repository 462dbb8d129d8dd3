"""Torch7's reset as data in the catalogue's entries (Uniform, Fill, Normal, UnitUniform): every
parameter has a rule, the page's words are written from the rules, and the generated classes
draw what the rules say."""

from __future__ import annotations

import math

import numpy as np
import pytest

import derive.nn as nn
from derive.catalogue import ENTRIES, Fill, Normal, Uniform, UnitUniform, lookup, reset_prose
from derive.catalogue_codegen import generated_entries


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.parameters], ids=lambda e: e.name)
def test_every_parameter_of_an_entry_has_one_reset_rule(entry):
    named = [n for rule in entry.reset for n in rule.names]
    assert sorted(named) == sorted(entry.parameters), f"{entry.name}: reset names {named}"
    sizes = {a.name for a in entry.signature}
    assert all(s in sizes for rule in entry.reset if isinstance(rule, Uniform) for s in rule.stdv)


def test_the_rules_are_written_in_words_for_the_page():
    assert reset_prose(lookup("Linear").reset) == "`weight` and `bias` uniform in ±1/sqrt(inputSize)"
    assert reset_prose((Uniform("weight", ("kW", "kH")), Fill("diagCov", 1), Normal("w"), UnitUniform("g"))) == (
        "`weight` uniform in ±1/sqrt(kW kH), `diagCov` filled with 1, `w` normal N(0, 1), `g` uniform in [0, 1)")
    assert reset_prose(lookup("Mul").reset) == "`weight` uniform in ±1"


def test_the_generated_classes_carry_the_entries_rules():
    for g in generated_entries():
        if g.parameter_shapes:
            assert getattr(nn, g.entry.name).resetRule == tuple(r.rule() for r in g.entry.reset)


def test_the_generated_classes_draw_what_the_rules_say():
    cmul = nn.CMul(50, rng=3)  # U(-1/sqrt(50), 1/sqrt(50))
    bound = 1 / math.sqrt(50)
    assert np.abs(cmul.weight).max() <= bound and np.abs(cmul.weight).max() > 0.8 * bound
    weighted = nn.WeightedEuclidean(30, 20, rng=1)
    assert np.all(weighted.diagCov == 1) and np.abs(weighted.weight).max() <= 1 / math.sqrt(30)
    table = nn.LookupTable(200, 50, rng=2)  # N(0, 1)
    assert abs(table.weight.std() - 1) < 0.05 and np.abs(table.weight).max() > 2
    prelu = nn.PReLU(4, rng=0)
    assert np.all(prelu.weight == 0.25)
    cmul.reset(stdv=0.01, rng=4)  # Torch7's reset(stdv): U(-stdv sqrt(3), stdv sqrt(3))
    assert np.abs(cmul.weight).max() <= 0.01 * math.sqrt(3)
