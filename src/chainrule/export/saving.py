"""Saving networks and estimators with pickle, joblib or ``skops.io``.

``Network`` pickles its array namespace by the module's name
(``Network.__getstate__``), so a fitted ``chainrule.sklearn`` estimator holds
nothing unpicklable: ``pickle``, ``joblib.dump`` and ``skops.io.dump`` all
round-trip it with identical predictions.  ``skops.io.load`` refuses types it
does not know unless told to trust them; :func:`trusted_types` is that list for
chainrule, to be compared with ``skops.io.get_untrusted_types``::

    import skops.io as sio
    from chainrule.export.saving import trusted_types

    sio.dump(est, "model.skops")
    unknown = sio.get_untrusted_types(file="model.skops")
    assert set(unknown) <= set(trusted_types())     # nothing but chainrule's own types
    est = sio.load("model.skops", trusted=unknown)

(A pickle runs code when loaded: load pickles only from sources you trust; a
``.skops`` file, or chainrule's own ``.npz`` model file, does not.)
"""

from __future__ import annotations

__all__ = ["trusted_types"]


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    sub: type
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def trusted_types() -> list[str]:
    """The fully qualified names of the types a saved chainrule network or estimator holds.

    Every chainrule activation, cost, optimizer and callback class (built in; a
    user's own subclasses, and ``CustomActivation``/``CustomCost`` holding a user's
    functions, are not vouched for), ``Network``, its ``Engine`` and
    ``History``, the scikit-learn estimators, and ``numpy.dtype``.

    Returns
    -------
    list of str
        Sorted, e.g. ``"chainrule.network.Network"``.

    Examples
    --------
    >>> from chainrule.export.saving import trusted_types
    >>> "chainrule.network.Network" in trusted_types()
    True
    """
    from .. import sklearn as estimators  # defines its own Cost and Optimizer subclasses
    from ..engine import Engine
    from ..functions import Activation, Cost
    from ..network import Network
    from ..sklearn.rules import _Stepper
    from ..training.callbacks import Callback
    from ..training.history import History
    from ..training.optimizers import Optimizer

    classes = [
        Network,
        Engine,
        History,
        estimators.MLPClassifier,
        estimators.MLPRegressor,
        _Stepper,
    ]
    for base in (Activation, Cost, Optimizer, Callback):
        classes += _subclasses(base)
    names = {
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if c.__module__.startswith("chainrule.") and not c.__name__.startswith("Custom")
    }
    return sorted(names | {"numpy.dtype"})
