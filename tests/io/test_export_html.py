"""What Jupyter shows: ``Network._repr_html_`` and ``Model._repr_html_`` (issue 22)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

import chainrule
from chainrule.cli import main
from chainrule.export.html import MAX_UNITS, network_svg
from chainrule.io import load_model

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"
SVG = "{http://www.w3.org/2000/svg}"


def _svg(html: str) -> ET.Element:
    return ET.fromstring(re.search(r"<svg.*</svg>", html, re.S).group(0))


def test_network_html_has_a_summary_and_a_diagram() -> None:
    net = chainrule.Network(
        [3, 4, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0
    )
    html = net._repr_html_()
    assert (
        "Network [3, 4, 2]: relu hidden → softmax output, log_likelihood cost, float64, "
        "26 parameters, numpy, untrained"
    ) in html
    svg = _svg(html)
    assert len(svg.findall(f"{SVG}circle")) == 3 + 4 + 2  # one per unit
    assert len(svg.findall(f".//{SVG}line")) == 3 * 4 + 4 * 2  # one per weight
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"N1 = 3", "N2 = 4", "N3 = 2", "identity", "relu", "softmax"} <= set(texts)
    net.fit(np.eye(3), [0, 1, 1], epochs=2, batch_size=3, seed=0)
    assert "trained 2 epochs (loss " in net._repr_html_()


def test_big_layers_are_elided() -> None:
    svg = ET.fromstring(network_svg(chainrule.Network([784, 30, 10], seed=0)))
    assert len(svg.findall(f"{SVG}circle")) == 3 * (MAX_UNITS - 1)
    assert [t.text for t in svg.iter(f"{SVG}text")].count("⋮") == 3
    assert "N1 = 784" in [t.text for t in svg.iter(f"{SVG}text")]


def test_model_html_shows_columns_preprocessing_and_classes(tmp_path, capsys) -> None:
    path = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(PENGUINS),
                "--target",
                "species",
                "--missing",
                "impute",
                "--save",
                str(path),
                "--epochs",
                "2",
                "--progress",
                "none",
            ]
        )
        == 0
    )
    capsys.readouterr()
    model = load_model(path)
    html = model._repr_html_()
    _svg(html)
    assert "classes (3): Adelie, Chinstrap, Gentoo" in html
    assert "<td>island</td><td>category</td>" in html
    assert "one-hot over 3 categories (Biscoe, Dream, Torgersen)" in html
    assert re.search(
        r"<td>bill_length_mm</td><td>number</td><td>missing → [\d.]+; "
        r"\(x − [\d.]+\) / [\d.]+</td>",
        html,
    )
    assert "scaling: standard" in html and "target: species" in html


def test_names_from_files_are_escaped() -> None:
    net = chainrule.Network([2, 3], activation="sigmoid", seed=0)
    from chainrule.io import Model

    model = Model(
        net, None, ["<script>", "b&c", "x"], "classification", feature_names=["<b>a</b>", "y"]
    )
    html = model._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "b&amp;c" in html
    assert "&lt;b&gt;a&lt;/b&gt;" in html
