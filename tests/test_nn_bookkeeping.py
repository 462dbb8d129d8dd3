"""Identity, View, Reshape, Dropout, SpatialDropout: the catalogue's bookkeeping modules (no calculus),
with Torch7's semantics (Dropout v2: scaled by 1/(1-p) in training, identity after evaluate();
SpatialDropout: planes dropped unscaled, scaled by 1-p after evaluate(), as Torch7's code)."""

import numpy as np
import pytest

from derive.nn import Dropout, Identity, Reshape, SpatialDropout, View


def test_identity_passes_input_and_gradient():
    x, g = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    layer = Identity()
    y, grad = layer.forward(x), layer.backward(x, g)
    assert np.array_equal(y, x) and np.array_equal(grad, g) and y is not x and grad is not g
    assert layer.parameters() is None


def test_view_and_reshape_keep_a_batch_axis_and_reshape_the_gradient_back():
    x = np.arange(24.0).reshape(2, 3, 4)
    for Layer in (View, Reshape):
        layer = Layer(12)
        y = layer.forward(x)
        assert y.shape == (2, 12) and np.array_equal(y.ravel(), x.ravel())
        g = np.arange(24.0).reshape(2, 12)
        assert np.array_equal(layer.backward(x, g), g.reshape(2, 3, 4))
        assert Layer(3, 4).forward(np.arange(12.0)).shape == (3, 4)
    assert not np.shares_memory(Reshape(12).forward(x), x)  # a copy
    with pytest.raises(ValueError, match=r"View: input of shape \(5,\) \(5 elements\) cannot be viewed as \(3,\)"):
        View(3).forward(np.zeros(5))
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        View(0)


def test_dropout_scales_the_kept_elements_in_training_and_is_the_identity_after_evaluate():
    layer = Dropout(0.25, rng=0)
    x = np.ones((200, 50))
    y = layer.forward(x)
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.02
    g = np.full(x.shape, 2.0)
    np.testing.assert_array_equal(layer.backward(x, g), np.where(kept, 2 / 0.75, 0.0))  # forward's mask
    layer.evaluate()
    assert np.array_equal(layer.forward(x), x) and np.array_equal(layer.backward(x, g), g)
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\), got 1"):
        Dropout(1)


def test_spatial_dropout_drops_whole_planes_as_torch7():
    layer = SpatialDropout(0.5, rng=1)
    x = np.ones((4, 6, 3, 3))
    y = layer.forward(x)
    planes = y.reshape(4, 6, 9)
    assert np.all((planes == 0).all(-1) | (planes == 1).all(-1))  # a plane is kept whole, unscaled
    assert 0 < (planes == 0).all(-1).sum() < 24
    np.testing.assert_array_equal(layer.backward(x, np.ones_like(x)), y)
    layer.evaluate()
    np.testing.assert_array_equal(layer.forward(x), 0.5 * x)
    assert layer.forward(np.ones((6, 3, 3))).shape == (6, 3, 3)
    layer.training()
    with pytest.raises(ValueError, match="SpatialDropout: input must be 3-D"):
        layer.forward(np.ones((6, 3)))


def test_each_passes_derive_check():
    from derive.nn import check

    for layer, shape in [(Identity(), (5,)), (View(5), (5,)), (Reshape(3, 2), (6,)), (Dropout(0.3).evaluate(), (5,)),
                         (SpatialDropout(0.5).evaluate(), (2, 3, 3))]:
        report = check(layer, shape, batch=3)
        assert report.passed, str(report)


def test_identity_is_generated_from_its_entry_and_takes_any_shape():
    from derive.nn import _catalogue

    assert Identity is _catalogue.Identity and Identity.formula == "y = x"
    x = np.arange(24.0).reshape(2, 3, 4)
    layer = Identity()
    y = layer.forward(x)
    assert np.array_equal(y, x) and not np.shares_memory(y, x)  # the output keeps its values if x changes
    assert layer.forward(np.arange(3)).dtype == np.float64  # integers read as the module's floats
    with pytest.raises(TypeError, match="Identity: input must be a numpy array, got list"):
        layer.forward([1.0])
