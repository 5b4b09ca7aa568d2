"""A network to and from PyTorch: ``nn.Sequential`` of ``nn.Linear`` and activations.

The seed's layer ``l`` is ``z^l = W^l a^{l-1} + b^l`` (eq. 1), ``a^l = σ(z^l)``; PyTorch's
``nn.Linear(N_{l-1}, N_l)`` computes ``x Wᵀ + b`` with ``weight`` of shape
``(N_l, N_{l-1})``, the seed's ``W^l`` exactly, so weights cross over untransposed.

======================  =============================================
chainrule activation    PyTorch module
======================  =============================================
``sigmoid``             ``nn.Sigmoid()``
``tanh``                ``nn.Tanh()``
``relu``                ``nn.ReLU()``
``leaky_relu`` (slope)  ``nn.LeakyReLU(negative_slope=slope)``
``softmax``             ``nn.Softmax(dim=-1)`` (output layer only)
``identity``            nothing (or ``nn.Identity()`` when reading)
======================  =============================================

PyTorch is imported when these functions are called (extra ``[torch]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import to_numpy
from ..functions import Activation, LeakyReLU, get_activation

if TYPE_CHECKING:
    from ..network import Network

__all__ = ["from_torch", "to_torch"]

_SUPPORTED = "nn.Linear layers and Sigmoid, Tanh, ReLU, LeakyReLU, Identity or Softmax(dim=-1)"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError("PyTorch export needs PyTorch: pip install 'chainrule[torch]'") from exc
    return torch


def _module(act: Activation, torch: Any, where: str) -> Any | None:
    """The PyTorch module of chainrule activation ``act`` (None for the identity)."""
    nn = torch.nn
    name = act.name
    if name == "identity":
        return None
    if name == "leaky_relu" and isinstance(act, LeakyReLU):
        return nn.LeakyReLU(negative_slope=act.slope)
    simple = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    if name in simple and type(act) is type(get_activation(name)):
        return simple[name]()
    if name == "softmax" and type(act) is type(get_activation(name)):
        return nn.Softmax(dim=-1)
    raise ValueError(
        f"to_torch: the {where} activation {name!r} ({type(act).__name__}) has no "
        f"PyTorch module: only sigmoid, tanh, relu, leaky_relu, softmax and identity"
    )


def to_torch(net: Network) -> Any:
    """``net`` as a ``torch.nn.Sequential`` with the same weights, dtype and device.

    Parameters
    ----------
    net : Network
        Any backend; a network on PyTorch keeps its device, others go to the CPU.

    Returns
    -------
    torch.nn.Sequential
        ``[σ_input,] Linear(N_1, N_2), σ_2, …, Linear(N_{L-1}, N_L), σ_L`` (identity
        activations left out); ``Linear.weight`` is a copy of ``W^l`` ``(N_l, N_{l-1})``,
        ``Linear.bias`` of ``b^l`` ``(N_l,)``.  Its output for ``X`` ``(n, N_1)`` is
        ``net.feedforward(X)`` ``(n, N_L)`` (to round-off).

    Raises
    ------
    ValueError
        For a custom activation, which has no PyTorch module.
    ImportError
        Without PyTorch.
    """
    torch = _torch()
    nn = torch.nn
    dtype = torch.float32 if net.dtype == np.dtype(np.float32) else torch.float64
    device = net.device if net.ops.name == "torch" and net.device is not None else "cpu"
    layers: list[Any] = []
    first = _module(net.input_activation, torch, "input")
    if first is not None:
        layers.append(first)
    for l, (W, b, act) in enumerate(
        zip(net.weights, net.biases, net.activations, strict=True), start=2
    ):
        linear = nn.Linear(net.sizes[l - 2], net.sizes[l - 1], dtype=dtype, device=device)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(to_numpy(W), dtype=net.dtype)))
            linear.bias.copy_(torch.from_numpy(np.array(to_numpy(b), dtype=net.dtype)))
        layers.append(linear)
        where = "output" if l == len(net.sizes) else f"layer {l}"
        module = _module(act, torch, where)
        if module is not None:
            layers.append(module)
    return nn.Sequential(*layers)


def _flatten(module: Any, nn: Any) -> list[Any]:
    if isinstance(module, nn.Sequential):
        return [m for child in module for m in _flatten(child, nn)]
    return [module]


def _activation_of(module: Any, nn: Any, index: int) -> Activation | None:
    """The chainrule activation of a PyTorch activation module (None: not one)."""
    if isinstance(module, nn.Sigmoid):
        return get_activation("sigmoid")
    if isinstance(module, nn.Tanh):
        return get_activation("tanh")
    if isinstance(module, nn.ReLU):
        return get_activation("relu")
    if isinstance(module, nn.Identity):
        return get_activation("identity")
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        if not 0 <= slope < 1:
            raise ValueError(
                f"from_torch: module {index} LeakyReLU has negative_slope "
                f"{slope}; chainrule's leaky_relu needs a slope in [0, 1)"
            )
        return LeakyReLU(slope)
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise ValueError(
                f"from_torch: module {index} Softmax(dim={module.dim}): only "
                f"Softmax over the features (dim=-1 or 1) is supported"
            )
        return get_activation("softmax")
    return None


def from_torch(
    network_class: type[Network], module: Any, *, cost: str | None = None, **kwargs: Any
) -> Network:
    """A :class:`~chainrule.network.Network` with the weights of a PyTorch stack.

    Parameters
    ----------
    network_class : type
        The class to build, :class:`~chainrule.network.Network` or a subclass
        (``Network.from_torch`` passes itself; this module never imports ``network``,
        so the layers stay free of import cycles).
    module : torch.nn.Sequential or torch.nn.Linear
        ``Linear`` layers, each optionally followed by one activation module
        (``Sigmoid``, ``Tanh``, ``ReLU``, ``LeakyReLU``, ``Identity``, ``Softmax(dim=-1)``
        last only); one activation may also come first (the input activation).
        Nested ``Sequential`` containers are read in order.  A ``Linear`` without
        bias gets ``b^l = 0``.
    cost : str, optional
        The network's cost; default ``"log_likelihood"`` for a softmax output,
        ``"quadratic"`` otherwise (PyTorch modules do not carry a loss).
    **kwargs
        Passed to :class:`~chainrule.network.Network` (``backend``, ``device``).

    Returns
    -------
    Network
        Its dtype is the weights' (float32 or float64); ``W^l`` is ``Linear.weight``
        ``(N_l, N_{l-1})`` and ``b^l`` is ``Linear.bias`` ``(N_l,)``, copied to NumPy.

    Raises
    ------
    ValueError
        A module that is not a supported layer or activation (naming its index and
        type), two activations in a row, sizes that do not chain, no ``Linear`` at all,
        or weights that are not float32/float64.
    """
    torch = _torch()
    nn = torch.nn

    if not isinstance(module, nn.Module):
        raise ValueError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    parts = _flatten(module, nn)
    input_activation: Activation = get_activation("identity")
    linears: list[Any] = []
    activations: list[Activation] = []
    for i, part in enumerate(parts):
        if isinstance(part, nn.Linear):
            if linears and len(activations) < len(linears):
                activations.append(get_activation("identity"))  # Linear after Linear
            if linears and part.in_features != linears[-1].out_features:
                raise ValueError(
                    f"from_torch: module {i} Linear({part.in_features}, "
                    f"{part.out_features}) does not follow a layer of "
                    f"{linears[-1].out_features} units"
                )
            linears.append(part)
            continue
        act = _activation_of(part, nn, i)
        if act is None:
            raise ValueError(
                f"from_torch: module {i} ({type(part).__name__}) is not supported: "
                f"expected {_SUPPORTED}"
            )
        if not linears:
            if input_activation.name != "identity" or i > 0:
                raise ValueError(
                    f"from_torch: module {i} ({type(part).__name__}): two activations in a row"
                )
            input_activation = act
        elif len(activations) == len(linears):
            if act.name == "identity":
                continue
            if activations[-1].name != "identity":
                raise ValueError(
                    f"from_torch: module {i} ({type(part).__name__}): two activations in a row"
                )
            activations[-1] = act
        else:
            activations.append(act)
    if not linears:
        raise ValueError(f"from_torch: no nn.Linear layer in {type(module).__name__}")
    if len(activations) < len(linears):
        activations.append(get_activation("identity"))
    dtypes = {lin.weight.dtype for lin in linears}
    if dtypes - {torch.float32, torch.float64} or len(dtypes) > 1:
        raise ValueError(
            f"from_torch: the weights must all be float32 or all float64, got "
            f"{', '.join(sorted(str(d) for d in dtypes))}"
        )
    dtype = np.float32 if dtypes == {torch.float32} else np.float64
    sizes = [linears[0].in_features] + [lin.out_features for lin in linears]
    out_act = activations[-1]
    if cost is None:
        cost = "log_likelihood" if out_act.name == "softmax" else "quadratic"
    backend, device = kwargs.pop("backend", None), kwargs.pop("device", None)
    net = network_class(
        sizes,
        activation=list(activations[:-1]),
        output_activation=out_act,
        input_activation=input_activation,
        cost=cost,
        dtype=dtype,
        seed=0,
        **kwargs,
    )
    with torch.no_grad():
        for l, lin in enumerate(linears):
            net.weights[l] = lin.weight.detach().cpu().numpy().astype(dtype, copy=True)
            net.biases[l] = (
                np.zeros(lin.out_features, dtype=dtype)
                if lin.bias is None
                else lin.bias.detach().cpu().numpy().astype(dtype, copy=True)
            )
    if backend is not None or device is not None:
        net.to(backend, device=device)
    return net
