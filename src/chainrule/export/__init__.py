"""Taking a network out of chainrule: ONNX, PyTorch, pickle/joblib/skops, Jupyter.

Nothing here is imported by ``import chainrule``; each exporter imports its
library (``onnx``, ``torch``, ``skops``) when first called.

* :func:`chainrule.export.onnx.network_to_onnx` / :func:`~chainrule.export.onnx.model_to_onnx`
  (``Network.to_onnx``, ``Model.to_onnx``, ``chainrule export``): the network, and a saved
  model's preprocessing, as an ONNX graph (extra ``[onnx]``);
* :func:`chainrule.export.torch.to_torch` / :func:`~chainrule.export.torch.from_torch`
  (``Network.to_torch``, ``Network.from_torch``): an ``nn.Sequential`` with the same weights;
* :func:`chainrule.export.saving.trusted_types`: the types ``skops.io.load`` may trust for
  chainrule's estimators and networks;
* :mod:`chainrule.export.html`: ``_repr_html_`` of ``Network`` and ``Model`` in Jupyter.
"""

from __future__ import annotations

__all__ = ["html", "onnx", "saving", "torch"]
