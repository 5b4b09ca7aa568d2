"""scikit-learn estimators: drop-in ``MLPClassifier`` and ``MLPRegressor``.

Switching from scikit-learn is a one-line import change::

    from chainrule.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

The parameters, fitted attributes and training semantics are scikit-learn's
(``sklearn.neural_network``, version 1.9): the same parameter validation (its
``_parameter_constraints``), the same Glorot initialisation from the same
``random_state``, the same mini-batches (``gen_batches``), the same shuffling,
the same per-batch ``alpha`` term, the same SGD/momentum/Nesterov/Adam updates,
learning-rate schedules and stopping rules, and ``solver="lbfgs"`` as SciPy's
L-BFGS-B on the same objective.  Underneath, the model is a
:class:`chainrule.Network` (``estimator.network_``) trained by one
:class:`chainrule.training.Trainer` per ``fit``, one epoch per iteration (L-BFGS:
:mod:`chainrule.training.lbfgs` with the network's backpropagated gradient), so
it can be inspected, explained and gradient-checked, and it offers what
scikit-learn's frozen MLP does not: per-layer and custom activations, custom
losses, dropout, class weights, multilabel targets, a user-supplied validation
set and a validation-loss curve.  scikit-learn's own ``test_mlp.py`` passes
against these estimators (tests/sklearn/test_sklearn_upstream.py).

Layout
------
scikit-learn stores ``coefs_[i]`` with shape ``(n_in, n_out)``; chainrule's
``W^l`` (``network_.weights[l-2]``) has shape ``(N_l, N_{l-1})``, the
transpose.  ``coefs_`` here is a list of live transposed *views* of the
network's weights: writing into them writes the network, and assigning
``est.coefs_ = [...]`` copies the given arrays into it.

The regression loss
-------------------
scikit-learn reports ``½ · mean over samples and outputs of (y − ŷ)²`` but
trains with the gradient of ``½ · mean over samples of ‖y − ŷ‖²`` — off by
the number of outputs ``k`` (scikit-learn#8349).  The network's cost is the
latter (:class:`SquaredError`, which backprop differentiates and gradcheck
checks); ``loss_`` and everything derived from it (``loss_curve_``,
``best_loss_``, the ``tol`` stopping rule, the value L-BFGS sees) is
scikit-learn's, ``1/k`` of it, so training stops where scikit-learn's does.
For a single output the two agree.
"""

from .classifier import MLPClassifier
from .losses import PoissonDeviance, SquaredError
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "PoissonDeviance", "SquaredError"]

# Their public home (pickles, reprs and docs name it), not the module that defines them.
for _cls in (MLPClassifier, MLPRegressor, PoissonDeviance, SquaredError):
    _cls.__module__ = __name__
del _cls
