"""``chainrule explain --figure``: the seed's Figure 2 with the example's real values."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule.cli import main
from chainrule.network import Network


@pytest.mark.slow
def test_explain_figure_writes_the_layer_with_its_values(tmp_path, capsys):
    out = tmp_path / "layer.svg"
    assert main(["explain", "--figure", str(out), "--figure-layer", "2"]) == 0
    svg = out.read_text()
    # The same network explain builds: the seed's 3-4-2, sigmoid everywhere, scaled_normal, seed 0.
    net = Network(
        [3, 4, 2], activation="sigmoid", input_activation="sigmoid", init="scaled_normal", seed=0
    )
    z2 = net.forward(np.array([[0.5, -1.0, 2.0]])).z[2][0]
    for value in z2:  # every z^2_i is written on the figure
        assert f"{value:.3g}" in svg
    assert svg.count('id="sum-') == 4 and svg.count('id="sigma-') == 3
    assert "layer 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--figure-layer", "7"], "--figure-layer must be between 2 and 3"),
        (["--figure", "{tmp}/no/such/dir/f.svg"], "does not exist"),
        (["--figure", "{tmp}/f.pdf"], "must end in .svg or .png"),
    ],
)
def test_explain_figure_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    args = ["explain", *[a.format(tmp=tmp_path) for a in extra]]
    if "--figure" not in args:
        args += ["--figure", str(tmp_path / "f.svg")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "f.svg").exists()
