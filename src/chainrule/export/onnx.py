"""A network, or a saved model with its preprocessing, as an ONNX graph.

Opset: ``ai.onnx`` :data:`OPSET` (17) and, for text columns, ``ai.onnx.ml``
:data:`ML_OPSET` (3).  The graph computes what ``chainrule predict`` does:

* **preprocessing** (a saved :class:`~chainrule.io.Model` only): a missing number
  (NaN) becomes its column's fill value (``IsNaN`` + ``Where``), a text column is
  one-hot encoded over its training categories (``ai.onnx.ml.OneHotEncoder``; a
  missing cell, the empty string, becomes its fill category), then the fitted
  scaling ``(x − mean) / scale`` or ``(x − low) / range`` (``Sub``, ``Div``);
* **the network**: eq. 1 for each layer as ``Gemm(a, W^l, b^l, transB=1)`` and its σ
  (``Sigmoid``, ``Tanh``, ``Relu``, ``LeakyRelu``, ``Softmax(axis=-1)``);
* **outputs**: a classifier has ``label`` ``(n,)`` (class names as strings, or class
  indices as int64 without names) and ``probabilities`` ``(n, classes)`` (the output
  activations ``a^L``, what ``chainrule predict --proba`` writes; one sigmoid unit
  ``p`` becomes the two columns ``1 − p, p``); a regressor has ``predictions``
  ``(n, N_L)`` in the target's units.

Inputs: one tensor ``X`` ``(n, columns)`` of the chosen float dtype when every
column is numeric; with text columns, one input per raw column, named by the
column, shape ``(n, 1)``: the float dtype for numbers, ``string`` for text.

Columns the model leaves out (``--exclude``, ``--id-column``, free text and other
excluded roles) are **not** graph inputs: feed only the model's columns
(``Model.feature_names``, what :func:`feeds` builds).  One-hot inputs go into the
network as 0/1: the stored scaler has centre 0 and scale 1 for them, so the ``Sub``
and ``Div`` leave them unchanged.

What ONNX cannot express is refused or documented, never silently changed:
custom activations are refused (:class:`OnnxExportError` names the layer); a
**date** column (its year and sin/cos features), a **free-text** column (its bag of
words: the ai.onnx domain has no tokenizer, only onnxruntime's ``com.microsoft``
one, whose regular expressions and lower-casing differ from Python's on non-ASCII
text) and a numeric column written as text
with **thousands separators or a decimal comma** are refused with an
:class:`OnnxExportError` naming the column (opset 17 has no date or locale-aware
number parsing: export the network alone and compute those inputs outside); a
missing cell in a column that had no fill value gives NaN (the CLI refuses the
row), and a category never seen in training encodes as all zeros (the CLI's
behaviour without ``--strict``; ONNX cannot raise).

``onnx`` is imported when these functions are called (extra ``[onnx]``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._version import __version__
from ..backend import to_numpy
from ..functions import ACTIVATIONS, Activation, LeakyReLU

if TYPE_CHECKING:
    from ..data.datasets import Dataset
    from ..io import Model
    from ..network import Network

__all__ = [
    "ML_OPSET",
    "OPSET",
    "OnnxExportError",
    "feeds",
    "model_to_onnx",
    "network_to_onnx",
    "save_onnx",
]

#: The ``ai.onnx`` opset the graphs are written for.
OPSET = 17
#: The ``ai.onnx.ml`` opset (``OneHotEncoder``, ``LabelEncoder``), used for text columns
#: and class names.
ML_OPSET = 3


class OnnxExportError(ValueError):
    """A network or model ONNX cannot express; the message names what and where."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX export needs onnx: pip install 'chainrule[onnx]'") from exc
    return onnx


class _Graph:
    """Nodes, constants, inputs and outputs of one ONNX graph, with unique names."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.used: set[str] = {"label", "probabilities", "predictions"}  # the outputs
        self.uses_ml = False

    def name(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.used:
            k += 1
            name = f"{hint}_{k}"
        self.used.add(name)
        return name

    def const(self, hint: str, value: npt.ArrayLike, dtype: Any = None) -> str:
        name = self.name(hint)
        arr = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(
        self, op: str, inputs: Sequence[str], hint: str, *, domain: str = "", **attrs: Any
    ) -> str:
        out = self.name(hint)
        self.nodes.append(
            self.onnx.helper.make_node(op, list(inputs), [out], name=out, domain=domain, **attrs)
        )
        if domain == "ai.onnx.ml":
            self.uses_ml = True
        return out

    def input(self, name: str, elem: int, width: int) -> str:
        if name in self.used:
            raise OnnxExportError(
                f"the column name {name!r} is also the name of an output "
                f"or another input of the graph: rename the column"
            )
        self.used.add(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, ["n", width]))
        return name

    def output(self, name: str, elem: int, shape: list[Any]) -> None:
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem, shape))

    def model(self, graph_name: str, doc: str, metadata: dict[str, str]) -> Any:
        onnx = self.onnx
        graph = onnx.helper.make_graph(
            self.nodes, graph_name, self.inputs, self.outputs, self.initializers, doc_string=doc
        )
        opsets = [onnx.helper.make_opsetid("", OPSET)]
        if self.uses_ml:
            opsets.append(onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET))
        model = onnx.helper.make_model(
            graph,
            opset_imports=opsets,
            producer_name="chainrule",
            producer_version=__version__,
            doc_string=doc,
        )
        model.ir_version = min(model.ir_version, 8)  # opset 17's IR: older runtimes load it
        onnx.helper.set_model_props(model, metadata)
        onnx.checker.check_model(model, full_check=True)
        return model


# ---------------------------------------------------------------------- the network


def _activation(g: _Graph, act: Activation, x: str, where: str) -> str:
    """Nodes of σ (``act``) applied to ``x``; refuses what ONNX has no operator for."""
    name = act.name
    if type(act) is not ACTIVATIONS.get(name):
        raise OnnxExportError(
            f"the {where} activation {name!r} ({type(act).__name__}) is a "
            f"custom activation: ONNX export supports sigmoid, tanh, relu, "
            f"leaky_relu, softmax and identity"
        )
    if name == "identity":
        return x
    if name == "leaky_relu":
        assert isinstance(act, LeakyReLU)
        return g.node("LeakyRelu", [x], f"{where}_leaky_relu", alpha=float(act.slope))
    op = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softmax": "Softmax"}[name]
    attrs: dict[str, Any] = {"axis": -1} if name == "softmax" else {}
    return g.node(op, [x], f"{where}_{name}", **attrs)


def _network(g: _Graph, net: Network, x: str) -> str:
    """Eqs. 1–2 for a batch ``x`` ``(n, N_1)``: the output activations ``a^L`` ``(n, N_L)``."""
    a = _activation(g, net.input_activation, x, "input")
    L = len(net.sizes)
    for l, (W, b, act) in enumerate(
        zip(net.weights, net.biases, net.activations, strict=True), start=2
    ):
        Wl = g.const(f"W{l}", to_numpy(W))  # (N_l, N_{l-1}), the seed's W^l
        bl = g.const(f"b{l}", to_numpy(b))  # (N_l,)
        z = g.node("Gemm", [a, Wl, bl], f"z{l}", transB=1)  # eq. 1: a W^lᵀ + b^l
        a = _activation(g, act, z, "output" if l == L else f"layer{l}")
    return a


def _outputs(
    g: _Graph,
    net: Network,
    a: str,
    *,
    classifier: bool,
    class_names: Sequence[str] | None,
    target: Any = None,
) -> None:
    """``label`` + ``probabilities`` for a classifier, ``predictions`` for a regressor."""
    n_out = net.sizes[-1]
    if not classifier:
        if target is not None:  # standardised regression target: back to its units
            mean, scale = target._fitted()
            a = g.node("Mul", [a, g.const("target_scale", scale)], "target_scaled")
            a = g.node("Add", [a, g.const("target_mean", mean)], "target_shifted")
        g.nodes.append(
            g.onnx.helper.make_node("Identity", [a], ["predictions"], name="predictions")
        )
        g.output("predictions", g.elem, ["n", n_out])
        return
    if n_out == 1:  # one sigmoid unit p = P(class 1): the columns 1 − p, p
        a = g.node("Concat", [g.node("Sub", [g.const("one", [[1.0]]), a], "p0"), a], "p01", axis=1)
        n_out = 2
    g.nodes.append(
        g.onnx.helper.make_node("Identity", [a], ["probabilities"], name="probabilities")
    )
    index = g.node("ArgMax", [a], "class_index", axis=1, keepdims=0)
    if class_names:
        if len(class_names) != n_out:
            raise OnnxExportError(f"{len(class_names)} class names for {n_out} output columns")
        g.nodes.append(
            g.onnx.helper.make_node(
                "LabelEncoder",
                [index],
                ["label"],
                name="label",
                domain="ai.onnx.ml",
                keys_int64s=list(range(n_out)),
                values_strings=[str(c) for c in class_names],
                default_string="",
            )
        )
        g.uses_ml = True
        g.output("label", g.onnx.TensorProto.STRING, ["n"])
    else:
        g.nodes.append(g.onnx.helper.make_node("Identity", [index], ["label"], name="label"))
        g.output("label", g.onnx.TensorProto.INT64, ["n"])
    g.output("probabilities", g.elem, ["n", n_out])


def _dtype(net: Network, dtype: npt.DTypeLike | None) -> np.dtype:
    dt = net.dtype if dtype is None else np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise OnnxExportError(f"dtype must be float32 or float64, got {dt}")
    return dt


def network_to_onnx(
    net: Network, *, dtype: npt.DTypeLike | None = None, class_names: Sequence[str] | None = None
) -> Any:
    """The network as an ONNX model: input ``X`` ``(n, N_1)``, no preprocessing.

    Parameters
    ----------
    net : Network
        Any backend; the weights are copied to the graph.
    dtype : float32 or float64, optional
        The graph's float type (default: the network's).
    class_names : sequence of str, optional
        Labels for a classifier's outputs (default ``net.class_names``; without
        names ``label`` is the class index, int64).

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker``; outputs ``label``/``probabilities`` for a
        classifier (``net.is_classifier``), ``predictions`` otherwise.

    Raises
    ------
    OnnxExportError
        For a custom activation (naming the layer) or a dtype other than float32/64.
    """
    onnx = _onnx()
    g = _Graph(onnx, _dtype(net, dtype))
    x = g.input("X", g.elem, net.sizes[0])
    a = _network(g, net, x)
    names = class_names if class_names is not None else net.class_names
    _outputs(g, net, a, classifier=net.is_classifier, class_names=names)
    return g.model("chainrule_network", repr(net), {"chainrule_network": repr(net)})


# ---------------------------------------------------------------------- a saved model


def _refuse_unexpressible(columns: Sequence[Any]) -> None:
    """Refuse the pipeline steps ONNX (opset 17) cannot express, naming the column."""
    for c in columns:
        if c.kind == "date":
            raise OnnxExportError(
                f"column {c.name!r} is a date column: ONNX (opset {OPSET}) cannot parse dates "
                f"into the model's {', '.join(c.derived)} features; export the network alone "
                f"(network_to_onnx(model.network)) and compute those inputs outside "
                f"(Model.pipeline() describes them)"
            )
        if c.kind == "words":
            raise OnnxExportError(
                f"column {c.name!r} is free text read as {len(c.words)} words: ONNX (opset "
                f"{OPSET}) has no tokenizer that splits text as chainrule does (lower-cased, "
                f"on anything not a letter or digit); export the network alone "
                f"(network_to_onnx(model.network)) and compute those inputs outside "
                f"(Model.pipeline() lists the words), or train with --exclude {c.name}"
            )
        if c.kind == "number" and getattr(c, "parse", None):
            how = {"thousands": "thousands separators", "decimal": "a decimal comma"}.get(
                c.parse, c.parse
            )
            raise OnnxExportError(
                f"column {c.name!r} holds numbers written with {how}: ONNX (opset {OPSET}) "
                f"cannot parse such text; export the network alone "
                f"(network_to_onnx(model.network)) and parse the column outside, or train "
                f"on plain numbers"
            )


def _preprocessing(g: _Graph, model: Model) -> str:
    """The model's preprocessing description → graph inputs and nodes; returns the
    network's input ``(n, N_1)``.

    The one place that reads the model's preprocessing: its table encoding (per
    column: ``kind``, ``categories``, ``fill``) and its feature scaler (``kind`` and
    fitted arrays).
    """
    onnx = g.onnx
    encoding = model.encoding
    columns = encoding.columns if encoding is not None else []
    _refuse_unexpressible(columns)
    if not any(c.kind == "category" for c in columns):
        # Numbers only: one input X (n, columns); missing cells (NaN) take their fill.
        x = g.input("X", g.elem, model.n_columns)
        fills = [np.nan if c.fill is None else float(c.fill) for c in columns]  # type: ignore[arg-type]
        if any(not np.isnan(f) for f in fills):
            x = g.node(
                "Where", [g.node("IsNaN", [x], "missing"), g.const("fill", [fills]), x], "filled"
            )
    else:
        parts = []
        for c in columns:
            if c.kind == "number":
                x = g.input(c.name, g.elem, 1)
                if c.fill is not None:
                    x = g.node(
                        "Where",
                        [
                            g.node("IsNaN", [x], f"{c.name}_missing"),
                            g.const(f"{c.name}_fill", [[float(c.fill)]]),
                            x,
                        ],
                        f"{c.name}_filled",
                    )
                parts.append(x)
                continue
            # Text: one-hot over the training categories and "" (a missing cell); an
            # unseen category is all zeros (zeros=1); then "" moves to the fill category.
            s = g.input(c.name, onnx.TensorProto.STRING, 1)
            k = len(c.categories)
            hot = g.node(
                "OneHotEncoder",
                [s],
                f"{c.name}_onehot",
                domain="ai.onnx.ml",
                cats_strings=[*c.categories, ""],
                zeros=1,
            )
            hot = g.node("Flatten", [hot], f"{c.name}_flat", axis=1)  # (n, 1, k+1) → (n, k+1)
            hot = g.node("Cast", [hot], f"{c.name}_cast", to=g.elem)
            move = np.vstack([np.eye(k), np.zeros((1, k))])
            if c.fill is not None and c.fill in c.categories:
                move[k, c.categories.index(str(c.fill))] = 1.0
            parts.append(
                g.node("MatMul", [hot, g.const(f"{c.name}_columns", move)], f"{c.name}_encoded")
            )
        x = g.node("Concat", parts, "encoded", axis=1)
    pre = model.preprocessing
    if pre is None or pre.features.kind == "none":
        return x
    first, second = pre.features.param_names  # (mean, scale) or (low, range)
    params = pre.features.params()
    x = g.node("Sub", [x, g.const(first, params[first])], "centred")
    return g.node("Div", [x, g.const(second, params[second])], "scaled")


def model_to_onnx(model: Model, *, dtype: npt.DTypeLike | None = None) -> Any:
    """A saved model, preprocessing included, as an ONNX model (see the module's notes).

    Parameters
    ----------
    model : Model
        From :func:`chainrule.io.load_model`.
    dtype : float32 or float64, optional
        The graph's float type (default: the network's).

    Returns
    -------
    onnx.ModelProto
        Inputs ``X`` ``(n, columns)``, or one ``(n, 1)`` input per raw column when the
        model has text columns; outputs ``label`` and ``probabilities``
        ``(n, classes)`` (classification) or ``predictions`` ``(n, N_L)``.

    Raises
    ------
    OnnxExportError
        For a custom activation, a dtype other than float32/float64, a date column or
        a column of numbers written with thousands separators or a decimal comma
        (naming the column).
    """
    onnx = _onnx()
    net = model.network
    g = _Graph(onnx, _dtype(net, dtype))
    x = _preprocessing(g, model)
    a = _network(g, net, x)
    pre = model.preprocessing
    _outputs(
        g,
        net,
        a,
        classifier=model.task == "classification",
        class_names=model.class_names,
        target=None if pre is None else pre.target,
    )
    inputs = ", ".join(i.name for i in g.inputs)
    doc = f"{net!r}; inputs: {inputs}"
    return g.model(
        "chainrule_model",
        doc,
        {"chainrule_network": repr(net), "task": model.task, "inputs": inputs},
    )


def feeds(
    model: Model, data: Dataset, *, dtype: npt.DTypeLike | None = None
) -> dict[str, np.ndarray]:
    """The inputs of :func:`model_to_onnx`'s graph for a table read by chainrule.

    Parameters
    ----------
    model : Model
    data : Dataset
        From :func:`chainrule.data.read_data_file` (``columns=model.feature_names``
        puts its columns in the model's order); NaN and ``""`` mark missing cells.
    dtype : float32 or float64, optional
        The graph's float type (default: the network's).

    Returns
    -------
    dict
        ``{"X": (n, columns)}``, or one ``(n, 1)`` array per column (``object`` arrays
        of ``str`` for text columns), ready for ``onnxruntime.InferenceSession.run``.
    """
    from ..data.tables import _cells  # a column as text, "" where missing

    dt = model.network.dtype if dtype is None else np.dtype(dtype)
    columns = model.encoding.columns if model.encoding is not None else []
    if not any(c.kind == "category" for c in columns):
        return {"X": np.asarray(data.X, dtype=dt)}
    out: dict[str, np.ndarray] = {}
    for j, c in enumerate(columns):
        if c.kind == "category":
            out[c.name] = np.asarray(_cells(data, j), dtype=object).reshape(-1, 1)
        else:
            out[c.name] = np.asarray(data.X[:, j], dtype=dt).reshape(-1, 1)
    return out


def save_onnx(proto: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``proto`` to ``path`` atomically (the previous file survives a failure)."""
    from ..atomic import atomic_write

    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return Path(path)
