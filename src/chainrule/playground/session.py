"""One playground run: its settings, data, :class:`~chainrule.Network` and frames.

A :class:`Session` is what one browser tab trains.  Everything it computes comes
from the library itself: training through :meth:`Network.fit` (one epoch per
frame, the network's generator continuing, so a seed replays the same run), the
heat maps from :meth:`Network.forward`, a clicked point's ``δ^l`` from
:meth:`Network.backprop` (eq. 15: for one example ``∂C/∂b^l = δ^l``), the
Jacobians and 3-tensors from :func:`chainrule.explain_trace`, and "check
gradients" from :func:`chainrule.gradcheck`.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..gradcheck import gradcheck
from ..network import Network
from ..tensors import explain_trace, relative_difference
from .data import DATASETS, FEATURES, PlaneData, features, make_dataset

__all__ = [
    "GRID",
    "HIDDEN_ACTIVATIONS",
    "OPTIMIZERS",
    "Session",
    "Settings",
    "SettingsError",
    "train_epochs",
]

Array = npt.NDArray[np.float64]

#: Heat maps are drawn on a GRID × GRID lattice over the plane.
GRID = 40
HIDDEN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "identity")
OPTIMIZERS = ("sgd", "momentum", "adam")
REGULARIZATION = ("none", "l1", "l2")
MAX_LAYERS = 6
MAX_NEURONS = 8
#: Settings whose change rebuilds the data and the network (epoch back to 0).
REBUILD = (
    "dataset",
    "noise",
    "ratio",
    "points",
    "classes",
    "features",
    "layers",
    "activations",
    "input_sigma",
    "seed",
)


class SettingsError(ValueError):
    """A setting out of range; the message names it, what was expected and what came."""


def _int(d: dict[str, Any], key: str, lo: int, hi: int, default: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise SettingsError(f"{key} must be an integer from {lo} to {hi}, got {v!r}")
    try:
        f = float(v)
    except ValueError:
        raise SettingsError(f"{key} must be an integer from {lo} to {hi}, got {v!r}") from None
    if not f.is_integer() or not lo <= f <= hi:
        raise SettingsError(f"{key} must be an integer from {lo} to {hi}, got {v!r}")
    return int(f)


def _float(d: dict[str, Any], key: str, lo: float, hi: float, default: float) -> float:
    v = d.get(key, default)
    try:
        f = float(v) if not isinstance(v, bool) else math.nan
    except (TypeError, ValueError):
        f = math.nan
    if not lo <= f <= hi:
        raise SettingsError(f"{key} must be a number from {lo:g} to {hi:g}, got {v!r}")
    return f


def _dropout(d: dict[str, Any], n_layers: int) -> tuple[float, ...]:
    """One dropout rate per hidden layer; a single number is used for all."""
    rates = (
        _list(d, "dropout", [0.0])
        if not isinstance(d.get("dropout"), (int, float))
        else [d["dropout"]]
    )
    if len(rates) == 1:
        rates = rates * n_layers
    if len(rates) != n_layers:
        raise SettingsError(f"dropout: one rate per hidden layer ({n_layers}), got {len(rates)}")
    return tuple(_float({"dropout": r}, "dropout", 0.0, 0.9, 0.0) for r in rates)


def _choice(d: dict[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    v = d.get(key, default)
    if v not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}, got {v!r}")
    return str(v)


def _list(d: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
    v = d.get(key, default)
    if isinstance(v, str):
        v = [p for p in v.split(",") if p != ""]
    if not isinstance(v, list):
        raise SettingsError(f"{key} must be a list, got {v!r}")
    return v


@dataclass(frozen=True)
class Settings:
    """Everything that defines a run; the page keeps it in its URL.

    Attributes
    ----------
    dataset : str
        A built-in set (:data:`~chainrule.playground.data.DATASETS`) or ``"upload"``.
    noise : int
        0 to 50 (%).
    ratio : int
        Percentage of points used for training, 10 to 90; the rest is the test set.
    batch : int
        Mini-batch size, 1 to 30.
    points : int
        Number of points of a built-in set, 50 to 2000.
    classes : int
        Classes of ``gauss`` and ``spiral``, 2 to 8 (3 or more: softmax output).
    features : tuple of str
        The input features (keys of :data:`~chainrule.playground.data.FEATURES`).
    layers : tuple of int
        Hidden layer sizes: at most 6 layers of 1 to 8 neurons.
    activations : tuple of str
        σ of each hidden layer.
    lr : float
        The learning rate η.
    reg : {"none", "l1", "l2"}
    reg_rate : float
        The regularization λ (Nielsen's form, see :meth:`Network.fit`).
    optimizer : {"sgd", "momentum", "adam"}
    dropout : tuple of float
        Inverted-dropout probability of each hidden layer, 0 to 0.9 (one value
        given is used for every layer).
    input_sigma : bool
        Apply σ (sigmoid) to the input layer, ``a^1 = σ(z^1)``, as the seed does.
    seed : int
        Seeds the points, the split, the initial weights and the shuffling.
    """

    dataset: str = "circle"
    noise: int = 0
    ratio: int = 50
    batch: int = 10
    points: int = 500
    classes: int = 2
    features: tuple[str, ...] = ("x1", "x2")
    layers: tuple[int, ...] = (4, 2)
    activations: tuple[str, ...] = ("tanh", "tanh")
    lr: float = 0.03
    reg: str = "none"
    reg_rate: float = 0.0
    optimizer: str = "sgd"
    dropout: tuple[float, ...] = (0.0, 0.0)
    input_sigma: bool = False
    seed: int = 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        """Validated settings from plain values (JSON, or the URL's strings).

        Raises
        ------
        SettingsError
            For an unknown key or a value out of range, naming it.
        """
        if not isinstance(d, dict):
            raise SettingsError(f"settings must be an object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SettingsError(
                f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(names))}"
            )
        base = cls()
        feats = tuple(str(f) for f in _list(d, "features", list(base.features)))
        if not feats or len(set(feats)) != len(feats) or any(f not in FEATURES for f in feats):
            raise SettingsError(
                f"features must be distinct names among {', '.join(FEATURES)}, got {list(feats)!r}"
            )
        raw_layers = _list(d, "layers", list(base.layers))
        if len(raw_layers) > MAX_LAYERS:
            raise SettingsError(
                f"layers: at most {MAX_LAYERS} hidden layers, got {len(raw_layers)}"
            )
        layers = tuple(_int({"layers": v}, "layers", 1, MAX_NEURONS, 1) for v in raw_layers)
        default_act = d.get("activation", "tanh") if "activation" in d else "tanh"
        acts = _list(d, "activations", [default_act] * len(layers))
        if len(acts) == 1 and len(layers) != 1:
            acts = acts * len(layers)
        if len(acts) != len(layers):
            raise SettingsError(
                f"activations: one per hidden layer ({len(layers)}), got {len(acts)}"
            )
        for a in acts:
            if a not in HIDDEN_ACTIVATIONS:
                raise SettingsError(
                    f"activations must be among {', '.join(HIDDEN_ACTIVATIONS)}, got {a!r}"
                )
        sigma = d.get("input_sigma", False)
        if sigma in ("1", "true", 1, True):
            sigma = True
        elif sigma in ("0", "false", "", 0, False):
            sigma = False
        else:
            raise SettingsError(f"input_sigma must be true or false, got {sigma!r}")
        return cls(
            dataset=_choice(d, "dataset", (*DATASETS, "upload"), base.dataset),
            noise=_int(d, "noise", 0, 50, base.noise),
            ratio=_int(d, "ratio", 10, 90, base.ratio),
            batch=_int(d, "batch", 1, 30, base.batch),
            points=_int(d, "points", 50, 2000, base.points),
            classes=_int(d, "classes", 2, 8, base.classes),
            features=feats,
            layers=layers,
            activations=tuple(str(a) for a in acts),
            lr=_float(d, "lr", 1e-6, 10.0, base.lr),
            reg=_choice(d, "reg", REGULARIZATION, base.reg),
            reg_rate=_float(d, "reg_rate", 0.0, 10.0, base.reg_rate),
            optimizer=_choice(d, "optimizer", OPTIMIZERS, base.optimizer),
            dropout=_dropout(d, len(layers)),
            input_sigma=bool(sigma),
            seed=_int(d, "seed", 0, 2**31 - 1, base.seed),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), the inverse of :meth:`from_dict`."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def train_epochs(net: Network, X: Array, Y: np.ndarray, settings: Settings, epochs: int) -> None:
    """Train ``net`` for ``epochs`` epochs on ``(X, Y)`` with the settings' hyper-parameters.

    The playground's only way into training (re-point it here): plain
    :meth:`Network.fit`, whose generator continues between calls, so one epoch
    at a time gives bitwise the weights of ``fit(epochs=k)``.  Changing the
    optimizer's name starts a fresh optimizer; the same name keeps its state.
    """
    hidden = len(net.sizes) - 2
    net.fit(
        X,
        Y,
        epochs=epochs,
        batch_size=min(settings.batch, X.shape[0]),
        learning_rate=settings.lr,
        optimizer=settings.optimizer,
        l1=settings.reg_rate if settings.reg == "l1" else 0.0,
        l2=settings.reg_rate if settings.reg == "l2" else 0.0,
        dropout=settings.dropout if any(settings.dropout) and hidden > 0 else None,
    )


def _fmt(v: float) -> str:
    """A number as the equations print it (4 significant digits)."""
    return f"{v:.4g}"


@dataclass
class Session:
    """A run: data, split, network and epoch count (one per browser tab).

    Parameters
    ----------
    settings : Settings
    upload : PlaneData, optional
        The uploaded data, used when ``settings.dataset == "upload"``.
    """

    settings: Settings = field(default_factory=Settings)
    upload: PlaneData | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.build()

    # ------------------------------------------------------------------ building

    def build(self) -> None:
        """Draw the data, split it and make a fresh network from the seed (epoch 0)."""
        s = self.settings
        rng = np.random.default_rng(s.seed)
        if s.dataset == "upload":
            if self.upload is None:
                raise SettingsError("dataset 'upload': no file has been uploaded")
            data = self.upload
        else:
            data = make_dataset(s.dataset, s.points, s.noise / 100, rng, classes=s.classes)
        self.data = data
        n = data.points.shape[0]
        order = rng.permutation(n)
        n_train = min(max(1, round(n * s.ratio / 100)), n - 1)
        self.train_rows, self.test_rows = np.sort(order[:n_train]), np.sort(order[n_train:])
        X = features(data.points, s.features)
        if data.task == "regression":
            Y: np.ndarray = data.y.astype(np.float64)[:, None]
            out, cost, n_out = "identity", "quadratic", 1
        elif data.n_classes == 2:
            Y = data.y.astype(np.float64)[:, None]
            out, cost, n_out = "sigmoid", "cross_entropy", 1
        else:
            Y = data.y.astype(np.int64)
            out, cost, n_out = "softmax", "log_likelihood", data.n_classes
        self.X, self.Y = X, Y
        self.net = Network(
            [len(s.features), *s.layers, n_out],
            activation=list(s.activations) if s.layers else "identity",
            output_activation=out,
            cost=cost,
            input_activation="sigmoid" if s.input_sigma else "identity",
            seed=s.seed,
        )
        self.epoch = 0
        self._grid_X: Array | None = None

    def update(self, settings: Settings) -> bool:
        """Apply new settings; returns True when the run was rebuilt (epoch 0).

        Data, features and architecture changes rebuild; hyper-parameters
        (η, batch, regularization, optimizer, dropout) apply from the next epoch.
        """
        rebuild = any(getattr(settings, k) != getattr(self.settings, k) for k in REBUILD)
        old, self.settings = self.settings, settings
        if rebuild:
            try:
                self.build()
            except Exception:
                self.settings = old  # refused: the run stays as it was
                self.build()
                raise
        return rebuild

    def reset(self) -> None:
        """Back to epoch 0 with the seed's initial weights."""
        self.build()

    # ------------------------------------------------------------------ training

    @property
    def X_train(self) -> Array:
        return self.X[self.train_rows]

    @property
    def Y_train(self) -> np.ndarray:
        return self.Y[self.train_rows]

    def step(self, epochs: int = 1) -> None:
        """Train ``epochs`` more epochs on the training points."""
        train_epochs(self.net, self.X_train, self.Y_train, self.settings, epochs)
        self.epoch += epochs

    def losses(self) -> tuple[float, float]:
        """The mean cost on the training and on the test points."""
        test = (
            self.net.loss(self.X[self.test_rows], self.Y[self.test_rows])
            if self.test_rows.size
            else math.nan
        )
        return self.net.loss(self.X_train, self.Y_train), test

    # ------------------------------------------------------------------ frames

    def grid_points(self) -> Array:
        """The heat maps' lattice on the plane, shape ``(GRID², 2)``, row 0 at the top."""
        x0, x1, y0, y1 = self.data.extent
        gx = np.linspace(x0, x1, GRID)
        gy = np.linspace(y1, y0, GRID)
        a, b = np.meshgrid(gx, gy)
        return np.stack([a.ravel(), b.ravel()], axis=1)

    def heat_maps(self) -> bytes:
        """Every neuron's output ``a^l_j`` over the plane, as bytes.

        For each layer ``l = 1..L`` and neuron ``j``, ``GRID²`` bytes (row-major,
        top row first) holding ``round((v + 1) · 127.5)`` of the value ``v``
        shown: ``a^l_j`` clipped to [-1, 1] (divided by its largest magnitude when
        that exceeds 1, as for the inputs and ReLU units); outputs in [0, 1]
        (sigmoid, softmax) are shown as ``2a − 1`` so that 0.5 is white.
        """
        if self._grid_X is None:
            self._grid_X = features(self.grid_points(), self.settings.features)
        fwd = self.net.forward(self._grid_X)
        L = len(self.net.sizes)
        parts = []
        for l in range(1, L + 1):
            a = np.asarray(fwd.a[l], dtype=np.float64)
            if l == L and self.net.output_activation.bounded01:
                v = 2 * a - 1
            else:
                peak = np.abs(a).max(axis=0)
                v = a / np.maximum(peak, 1.0)
            q = np.rint((np.clip(v, -1, 1) + 1) * 127.5).astype(np.uint8)
            parts.append(np.ascontiguousarray(q.T).tobytes())
        return b"".join(parts)

    def frame(self) -> dict[str, Any]:
        """What the page draws after each step, besides the heat maps."""
        train, test = self.losses()
        return {
            "type": "frame",
            "epoch": self.epoch,
            "train_loss": train,
            "test_loss": None if math.isnan(test) else test,
            "sizes": list(self.net.sizes),
            "weights": [np.asarray(W).tolist() for W in self.net.weights],
            "biases": [np.asarray(b).tolist() for b in self.net.biases],
            "grid": GRID,
        }

    def describe(self) -> dict[str, Any]:
        """The data and the run's fixed facts (sent when a run is (re)built)."""
        d = self.data
        return {
            "type": "data",
            "settings": self.settings.as_dict(),
            "points": d.points.tolist(),
            "y": d.y.tolist(),
            "train": self.train_rows.tolist(),
            "test": self.test_rows.tolist(),
            "task": d.task,
            "classes": d.n_classes,
            "class_names": d.class_names,
            "extent": list(d.extent),
            "names": list(d.names),
            "target_name": d.target_name,
            "features": list(self.settings.features),
            "sizes": list(self.net.sizes),
            "activations": [
                self.net.input_activation.name,
                *(a.name for a in self.net.activations),
            ],
            "cost": self.net.cost.name,
            "grid": GRID,
        }

    # ------------------------------------------------------------------ the backward view

    def example(self, index: int) -> tuple[Array, Array]:
        """Point ``index``'s input row ``z^1`` and target row ``λ`` (one-hot for classes)."""
        n = self.X.shape[0]
        if not 0 <= index < n:
            raise IndexError(
                f"point {index} does not exist: the data has {n} points (0 to {n - 1})"
            )
        x = self.X[index]
        if self.Y.ndim == 1:
            y = np.zeros(self.net.sizes[-1])
            y[int(self.Y[index])] = 1.0
        else:
            y = self.Y[index].astype(np.float64)
        return x, y

    def inspect(self, index: int, layer: int | None = None, neuron: int = 0) -> dict[str, Any]:
        """One point's forward and backward pass, and the seed's equations for one neuron.

        Parameters
        ----------
        index : int
            The point (0-based, over all points).
        layer : int, optional
            The seed's layer number ``l`` (2..L) whose Jacobian, 3-tensor and
            equations are shown; default ``L``.
        neuron : int
            ``j`` (0-based) in that layer.

        Returns
        -------
        dict
            ``z``, ``a`` (l = 1..L) and ``delta`` (l = 2..L, from
            :meth:`Network.backprop` of the one example: its bias gradient is
            ``δ^l`` by eq. 15), the explicit path's ``delta_explicit``, the
            chosen layer's ``W^l = ∂z^l/∂a^{l-1}``, ``∂z^l/∂z^{l-1}``, the
            3-tensor ``∂z^l/∂W^l``, its contraction with ``δ^l`` beside the fast
            path's gradient and their difference, and the equations written out.
        """
        net = self.net
        L = len(net.sizes)
        layer = L if layer is None else int(layer)
        if not 2 <= layer <= L:
            raise IndexError(f"layer must be from 2 to {L}, got {layer}")
        if not 0 <= neuron < net.sizes[layer - 1]:
            raise IndexError(
                f"neuron must be from 0 to {net.sizes[layer - 1] - 1} in layer "
                f"{layer}, got {neuron}"
            )
        x, y = self.example(index)
        grad_w, grad_b = net.backprop(x[None, :], y[None, :])
        trace = explain_trace(net, x, y)
        l, j = layer, neuron
        fast_dW = np.asarray(grad_w[l - 2]).T  # the seed's layout: N_{l-1} × N_l (eq. 13)
        sigma_prime = np.diagonal(trace.da_dz[l]) if net.activations[l - 2].elementwise else None
        equations = self._equations(trace, l, j, np.asarray(grad_b[l - 2]))
        return {
            "type": "inspect",
            "index": index,
            "split": "train" if index in set(self.train_rows.tolist()) else "test",
            "point": self.data.points[index].tolist(),
            "x": x.tolist(),
            "target": y.tolist(),
            "cost": trace.cost,
            "z": {k: trace.z[k].tolist() for k in range(1, L + 1)},
            "a": {k: trace.a[k].tolist() for k in range(1, L + 1)},
            "delta": {k: np.asarray(grad_b[k - 2]).tolist() for k in range(2, L + 1)},
            "delta_explicit": {k: trace.delta[k][0].tolist() for k in range(1, L + 1)},
            "layer": l,
            "neuron": j,
            "W": np.asarray(net.weights[l - 2]).tolist(),
            "dz_dz": trace.dz_dz[l - 1].tolist(),
            "sigma_prime": None if sigma_prime is None else sigma_prime.tolist(),
            "dz_dW": trace.dz_dW[l].tolist(),
            "dC_dW": trace.dC_dW[l].tolist(),
            "fast_dC_dW": fast_dW.tolist(),
            "agreement": relative_difference(trace.dC_dW[l], fast_dW),
            "equations": equations,
        }

    def _equations(self, t: Any, l: int, j: int, fast_delta: Array) -> list[dict[str, str]]:
        """Eqs. 5 or 9, 13 and 15 for neuron ``j`` of layer ``l``, numbers plugged in."""
        net, L = self.net, len(self.net.sizes)
        J, d = j + 1, float(fast_delta[j])
        out: list[dict[str, str]] = []
        if l == L:
            if net.output_activation.elementwise:
                g, s = float(t.dC_da[0, j]), float(t.da_dz[L][j, j])
                out.append(
                    {
                        "eq": "eq. 5",
                        "formula": f"δ^{L}_{J} = ∂C/∂a^{L}_{J} · σ'(z^{L}_{J})",
                        "numbers": f"= {_fmt(g)} × {_fmt(s)} = {_fmt(d)}",
                    }
                )
            else:
                terms = " + ".join(
                    f"{_fmt(float(t.dC_da[0, m]))}×{_fmt(float(t.da_dz[L][m, j]))}"
                    for m in range(net.sizes[-1])
                )
                out.append(
                    {
                        "eq": "eq. 5",
                        "formula": f"δ^{L}_{J} = Σ_m ∂C/∂a^{L}_m · ∂a^{L}_m/∂z^{L}_{J}",
                        "numbers": f"= {terms} = {_fmt(d)}",
                    }
                )
        else:
            W = np.asarray(net.weights[l - 1])
            nxt = t.delta[l + 1][0]
            s = float(t.da_dz[l][j, j])
            terms = " + ".join(
                f"{_fmt(float(nxt[k]))}×{_fmt(float(W[k, j]))}" for k in range(W.shape[0])
            )
            out.append(
                {
                    "eq": "eq. 9",
                    "formula": f"δ^{l}_{J} = (Σ_k δ^{l + 1}_k W^{l + 1}_k{J}) · σ'(z^{l}_{J})",
                    "numbers": f"= ({terms}) × {_fmt(s)} = {_fmt(d)}",
                }
            )
        a_prev = t.a[l - 1]
        for i in range(a_prev.shape[0]):
            out.append(
                {
                    "eq": "eq. 13",
                    "formula": f"∂C/∂w^{l}_{J}{i + 1} = a^{l - 1}_{i + 1} · δ^{l}_{J}",
                    "numbers": f"= {_fmt(float(a_prev[i]))} × {_fmt(d)} = "
                    f"{_fmt(float(a_prev[i]) * d)}",
                }
            )
        out.append(
            {"eq": "eq. 15", "formula": f"∂C/∂b^{l}_{J} = δ^{l}_{J}", "numbers": f"= {_fmt(d)}"}
        )
        return out

    def check_gradients(self) -> dict[str, Any]:
        """:func:`chainrule.gradcheck` on the training points (central differences)."""
        X, Y = self.X_train, self.Y_train
        if X.shape[0] > 200:  # enough points to judge, quick enough to wait for
            X, Y = X[:200], Y[:200]
        report = gradcheck(self.net, X, Y)
        worst = max(report.checks, key=lambda c: c.max_rel_error)
        return {
            "type": "gradcheck",
            "passed": report.passed,
            "worst": {
                "array": worst.name,
                "max_rel_error": worst.max_rel_error,
                "max_abs_error": worst.max_abs_error,
            },
            "arrays": [
                {
                    "array": c.name,
                    "max_rel_error": c.max_rel_error,
                    "max_abs_error": c.max_abs_error,
                    "passed": c.passed,
                }
                for c in report.checks
            ],
            "rows": int(X.shape[0]),
        }

    # ------------------------------------------------------------------ export

    def model_bytes(self) -> bytes:
        """The network as a chainrule model file (``.npz`` + JSON), read by ``chainrule.load``."""
        d = self.data
        names = list(d.class_names) if d.task == "classification" else None
        with tempfile.TemporaryDirectory(prefix="chainrule-playground-") as folder:
            path = Path(folder) / "model.npz"
            self.net.save(
                path,
                class_names=names,
                feature_names=list(self.settings.features),
                target_name=d.target_name,
                training={"epochs": self.epoch, "playground": self.settings.as_dict()},
                data={"name": self.settings.dataset, "plane": list(d.names)},
            )
            return path.read_bytes()

    def snippet(self) -> str:
        """Python that rebuilds this run with the library: same seed, same weights.

        It replays the settings as they are now; a run whose settings changed while
        it trained is rebuilt as if they had been these from the start.
        """
        s, d, net = self.settings, self.data, self.net
        if s.dataset == "upload":
            data = (
                f"data = read_upload(open('upload.csv', 'rb').read(), 'upload.csv', "
                f"{d.names[0]!r}, {d.names[1]!r},\n"
                f"                   {d.target_name!r}, task={d.task!r})  # your file\n"
            )
        else:
            data = (
                f"data = make_dataset({s.dataset!r}, {s.points}, {s.noise / 100!r}, rng, "
                f"classes={s.classes})\n"
            )
        if d.task == "classification" and d.n_classes > 2:
            targets = "Y = data.y  # class labels: one-hot for the softmax output\n"
        else:
            targets = "Y = data.y.astype(np.float64)[:, None]\n"
        hidden = [a.name for a in net.activations[:-1]]
        reg = {"l1": f", l1={s.reg_rate!r}", "l2": f", l2={s.reg_rate!r}"}.get(s.reg, "")
        drop = f", dropout={s.dropout!r}" if any(s.dropout) and s.layers else ""
        return (
            '"""Rebuild a chainrule playground run."""\n'
            "import numpy as np\n\n"
            "import chainrule\n"
            "from chainrule.playground.data import features, make_dataset, read_upload\n\n"
            f"rng = np.random.default_rng({s.seed})\n"
            f"{data}"
            "n = data.points.shape[0]\n"
            "order = rng.permutation(n)\n"
            f"n_train = min(max(1, round(n * {s.ratio} / 100)), n - 1)\n"
            "train, test = np.sort(order[:n_train]), np.sort(order[n_train:])\n"
            f"X = features(data.points, {list(s.features)!r})\n"
            f"{targets}"
            f"net = chainrule.Network({list(net.sizes)!r}, "
            f"activation={hidden or 'identity'!r},\n"
            f"                        output_activation={net.output_activation.name!r}, "
            f"cost={net.cost.name!r},\n"
            f"                        input_activation={net.input_activation.name!r}, "
            f"seed={s.seed})\n"
            + (
                f"net.fit(X[train], Y[train], epochs={self.epoch}, "
                if self.epoch
                else "# not trained yet: net.fit(X[train], Y[train], epochs=..., "
            )
            + f"batch_size={min(s.batch, len(self.train_rows))}, "
            f"learning_rate={s.lr!r},\n"
            f"        optimizer={s.optimizer!r}{reg}{drop})\n"
            + "print('train loss', net.loss(X[train], Y[train]), "
            "'test loss', net.loss(X[test], Y[test]))\n"
            "net.save('playground-model.npz')\n"
        )
