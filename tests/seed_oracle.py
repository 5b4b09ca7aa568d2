"""A literal, per-example transcription of the seed's summary (§5, steps 1–6).

Column vectors of shape (N, 1), explicit diagonal matrices, explicit outer
products: slow and obvious on purpose.  It shares nothing with the engine
except the activation and cost functions, so it is an independent oracle.
"""

from __future__ import annotations

import numpy as np

from chainrule import Network


def per_example_gradient(net: Network, x: np.ndarray, lam: np.ndarray):
    """Gradients of C(f(x), λ) for ONE example, in the network's layout (W^l shaped)."""
    L = len(net.sizes)
    sig = [None, net.input_activation, *net.activations]  # sig[l] is σ for layer l
    W = [None, None, *net.weights]
    b = [None, None, *[bb.reshape(-1, 1) for bb in net.biases]]

    # Step 1: input z^1 (a column vector).
    z = [None] * (L + 1)
    a = [None] * (L + 1)
    z[1] = x.reshape(-1, 1)
    # Step 2: feed forward, a^l = σ(z^l), z^{l+1} = W^{l+1} a^l + b^{l+1}.
    for l in range(1, L + 1):
        a[l] = sig[l].forward(z[l].T).T
        if l < L:
            z[l + 1] = W[l + 1] @ a[l] + b[l + 1]

    def jacobian(l):  # [∂a^l/∂z^l], N_l × N_l
        return sig[l].jacobian(z[l].T, a[l].T)[0]

    # Step 3: δ^L = [∂C/∂a^L] · [∂a^L/∂z^L]  (row vector 1 × N_L)
    dC_da = net.cost.derivative(a[L].T, lam.reshape(1, -1))  # 1 × N_L
    delta = [None] * (L + 1)
    delta[L] = dC_da @ jacobian(L)
    # Step 4: δ^l = δ^{l+1} · W^{l+1} · diag σ'(z^l)
    for l in range(L - 1, 1, -1):
        delta[l] = delta[l + 1] @ W[l + 1] @ jacobian(l)
    # Steps 5 and 6: [δC/δW^l] = a^{l-1} ⊗ δ^l (N_{l-1} × N_l); [δC/δb^l] = δ^l.
    grad_w, grad_b = [], []
    for l in range(2, L + 1):
        seed_dW = np.outer(a[l - 1].ravel(), delta[l].ravel())  # N_{l-1} × N_l
        grad_w.append(seed_dW.T)  # the network stores W^l's shape: the transpose
        grad_b.append(delta[l].ravel())
    return grad_w, grad_b
