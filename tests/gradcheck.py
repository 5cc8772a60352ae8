"""Finite-difference gradient check of whole models (float64), shared by the gradient tests."""
import numpy as np

from fastnn.losses import get as get_loss


def numeric_grad(model, x, targets, loss, eps=1e-6):
    """Central differences of the mean loss (with penalties) with respect to every parameter."""
    grads = np.empty_like(model.params)
    for k in range(model.params.size):
        old = model.params[k]
        model.params[k] = old + eps
        up, _ = model.loss_and_grad(x, targets, loss)
        model.params[k] = old - eps
        down, _ = model.loss_and_grad(x, targets, loss)
        model.params[k] = old
        grads[k] = (up - down) / (2 * eps)
    return grads


def check_model(model, x, y, loss_name="cross_entropy", eps=1e-6):
    """Analytic gradients (model.loss_and_grad) equal finite differences, and are not all zero."""
    loss = get_loss(loss_name)
    targets = loss.prepare_targets(y, len(x), model.output_dim, model.dtype)
    model.loss_and_grad(x, targets, loss)
    analytic = model.grads.copy()
    numeric = numeric_grad(model, x, targets, loss, eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(analytic).max() > 1e-4  # the check must not pass on an all-zero gradient
