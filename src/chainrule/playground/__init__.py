"""The playground: watch the seed's backpropagation learn, live in the browser.

``chainrule playground`` (extra ``[playground]``: Starlette and uvicorn) serves a
page on 127.0.0.1 that trains a :class:`~chainrule.Network` on 2-D data sets or an
uploaded CSV file, draws every neuron as a heat map over the plane, and shows a
clicked point's forward and backward pass with the seed's equations, Jacobians
and 3-tensors (see ``docs/playground.md``).

* :mod:`.data` — the data sets, the input features and the upload reader;
* :mod:`.session` — one run (settings, data, network, frames, the backward view);
* :mod:`.server` — the ASGI app: token, Host and Origin checks, HTTP API and
  WebSocket frames, the static page (``static/``).
"""

from .session import Session, Settings, SettingsError

__all__ = ["Session", "Settings", "SettingsError"]
