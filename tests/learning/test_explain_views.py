"""``chainrule explain`` views: scalar view, LaTeX/Markdown, --weights, --model/--row, figure."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.cli.explain_render import expand_entry, parse_entry, to_latex

X1, Y1 = [1.0, -0.5], [1.0, 0.0]


def _trace(**kw):
    return chainrule.explain_trace(chainrule.lesson_network([2, 3, 2], **kw), X1, Y1)


def _last_value(lines):
    return float(lines[-1].split("=")[-1])


# --------------------------------------------------------------------------- the scalar view


def test_expand_delta_is_eq9_with_the_numbers_plugged_in():
    t = _trace()
    lines = expand_entry(t, "δ^2_1")
    assert lines[0].startswith("δ^2_1 = (Σ_k δ^3_k w^3_k,1) · σ′(z^2_1)")
    assert "δ^3_1·w^3_1,1 + δ^3_2·w^3_2,1" in lines[1]
    assert _last_value(lines) == pytest.approx(t.delta[2][0, 0], rel=1e-3)
    # The numbers on the third line, evaluated, give the value: the sum is really eq. 9.
    W3 = t["W[3]"].value
    by_hand = (t.delta[3][0] @ W3[:, 0]) * t.a[2][0] * (1 - t.a[2][0])
    assert by_hand == pytest.approx(t.delta[2][0, 0], rel=1e-12)
    assert "(-0.2341)·(-0.7306)" in lines[2]


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("W^3_12", lambda t: t.dC_dW[3][1, 0]),
        ("W^2_3,1", lambda t: t.dC_dW[2][0, 2]),
        ("w^{2}_{2,2}", lambda t: t.dC_dW[2][1, 1]),
        ("b^2_3", lambda t: t.delta[2][0, 2]),
        ("z^2_1", lambda t: t.z[2][0]),
        ("a^3_2", lambda t: t.a[3][1]),
        ("δ^3_1", lambda t: t.delta[3][0, 0]),
        ("delta^1_2", lambda t: t.delta[1][0, 1]),
    ],
)
def test_expand_every_kind_of_entry(spec, value):
    t = _trace()
    assert _last_value(expand_entry(t, spec)) == pytest.approx(value(t), rel=1e-3)


def test_expand_softmax_output_uses_the_full_jacobian():
    t = _trace(output_activation="softmax", cost="log_likelihood")
    lines = expand_entry(t, "δ^3_1")
    assert "softmax" in lines[0] and "∂a^3_2/∂z^3_1" in lines[1]
    assert _last_value(lines) == pytest.approx(t.delta[3][0, 0], rel=1e-3)
    # δ^L = a − λ for softmax with the log-likelihood (exercise 4).
    assert t.delta[3][0, 0] == pytest.approx(t.a[3][0] - 1.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("q^2_1", "expected an entry such as"),
        ("δ^7_1", "layer 7 is not between 1 and 3"),
        ("W^1_11", "layer 1 is not between 2 and 3"),
        ("δ^2_4", "index 4 is not between 1 and 3"),
        ("W^2_123", "two indices"),
        ("W^3_1,4", "index 4 is not between 1 and 3"),
    ],
)
def test_expand_bad_entries_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_entry(spec, (2, 3, 2))


def test_expand_on_the_command_line(capsys):
    assert main(["explain", "--sizes", "2,3,2", "--expand", "δ^2_1", "--expand", "W^2_12"]) == 0
    out = capsys.readouterr().out
    assert "δ^2_1 = (Σ_k" in out and "∂C/∂w^2_1,2 = δ^2_1 · a^1_2" in out
    assert "== Step" not in out  # the scalar view instead of the whole trace
    assert max(len(line) for line in out.splitlines()) <= 100
    assert main(["explain", "--expand", "δ^9_1"]) == 2
    assert "--expand 'δ^9_1': layer 9" in capsys.readouterr().err


# --------------------------------------------------------------------------- LaTeX, Markdown


def test_to_latex_turns_the_seeds_notation_into_math():
    assert to_latex("δ^3") == r"\delta ^{3}"
    assert to_latex("[δC/δW^3]") == r"\left[\frac{\delta C}{\delta W^{3}}\right]"
    assert to_latex("∂a^3/∂z^3") == r"\frac{\partial a^{3}}{\partial z^{3}}"
    assert to_latex("diag σ'(z^2)") == r"\operatorname{diag} \sigma '(z^{2})"
    assert to_latex("gradient of quadratic") == r"\text{gradient of quadratic}"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_latex_format_is_a_balanced_amsmath_fragment(capsys):
    assert main(["explain", "--sizes", "2,3,2", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert out.count(r"\begin{align*}") == out.count(r"\end{align*}") == 5
    assert out.count(r"\begin{bmatrix}") == out.count(r"\end{bmatrix}") > 20
    assert _balanced(out)
    assert r"\delta ^{2} = \delta ^{3} \cdot" in out and "0.02187" in out
    code_lines = "\n".join(ln for ln in out.splitlines() if not ln.startswith("%"))
    assert not re.search(r"[δσλ∂·⊗′−×]", code_lines)  # all of it LaTeX macros


def test_markdown_math_renders_as_dollar_math(capsys):
    assert main(["explain", "--sizes", "2,3,2", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert r"### $\delta ^{3} = \left[\frac{\partial C}{\partial a^{3}}\right]" in out
    assert out.count("$$") % 2 == 0 and out.count("$$") == 2 * 28
    for block in re.findall(r"\$\$\n(.*?)\n\$\$", out, re.S):
        assert block.startswith(r"\begin{bmatrix}") or "[1," in block
        assert _balanced(block)


# --------------------------------------------------------------------------- --weights


def test_weights_file_sets_the_network(tmp_path, capsys):
    f = tmp_path / "w.json"
    # Matt Mazur's textbook example: 2-2-2, sigmoid, inputs 0.05, 0.10.
    f.write_text(
        json.dumps(
            {
                "W": [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
                "b": [[0.35, 0.35], [0.60, 0.60]],
            }
        )
    )
    code = main(
        [
            "explain",
            "--weights",
            str(f),
            "--input-activation",
            "identity",
            "--x",
            "0.05,0.10",
            "--y",
            "0.01,0.99",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["network"]["sizes"] == [2, 2, 2]
    a3 = next(s for s in doc["steps"] if s["key"] == "a[3]")["values"]
    np.testing.assert_allclose(a3, [0.75136507, 0.772928465], rtol=1e-8)
    f.write_text(json.dumps({"W^2": [[1, 2]], "b^2": [0.5], "W^3": [[1], [2]], "b^3": [0, 0]}))
    assert main(["explain", "--weights", str(f), "--x", "1,2", "--y", "1"]) == 0
    assert "weights: from" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"W": [[[1, 2]]], "b": [[1, 2]]}, "b^2 must hold N_2 = 1 numbers"),
        ({"W": [[[1, 2]], [[1, 2]]], "b": [[1], [1]]}, "W^3 has 2 columns, expected N_2 = 1"),
        ({"W": [[1, 2]], "b": [[1]]}, "W^2 must be a list of rows"),
        ({"V": 1}, 'expected "W^2", "W^3"'),
        ([1], "expected a JSON object"),
    ],
)
def test_bad_weights_files_are_one_line_errors(tmp_path, capsys, doc, message):
    f = tmp_path / "w.json"
    f.write_text(json.dumps(doc))
    assert main(["explain", "--weights", str(f)]) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- --model --row


def test_model_row_is_explained_through_the_preprocessing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [
        f"{rng.normal() * 10 + 50:.3f},{rng.normal():.3f},{'yes' if k % 2 else 'no'}"
        for k in range(30)
    ]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.npz"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "label",
                "--hidden",
                "3",
                "--epochs",
                "2",
                "--save",
                str(model),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code = main(
        ["explain", "--model", str(model), "--data", str(data), "--row", "3", "--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    net = chainrule.load(str(model))
    # The row's raw values are scaled as in training: not the file's 50-ish numbers.
    x = np.array(doc["example"]["x"])
    assert abs(x[0]) < 10 and doc["network"]["sizes"] == list(net.sizes)
    aL = next(s for s in doc["steps"] if s["key"] == f"a[{len(net.sizes)}]")["values"]
    np.testing.assert_allclose(net.feedforward(x), aL, rtol=1e-12)
    assert doc["example"]["y"] in ([1.0, 0.0], [0.0, 1.0], [1.0], [0.0])
    assert main(["explain", "--model", str(model), "--data", str(data), "--row", "99"]) == 2
    assert "--row 99" in capsys.readouterr().err
    assert main(["explain", "--model", str(model)]) == 2
    assert "--model needs --data" in capsys.readouterr().err


# --------------------------------------------------------------------------- the figure


def test_figure_draws_forward_and_backward_with_the_values(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bp.svg"
    assert main(["explain", "--sizes", "2,3,2", "--figure", str(out)]) == 0
    svg = out.read_text()
    t = _trace()
    assert svg.count('id="forward-') >= 2 + 3 + 2 + 12 and svg.count('id="backward-') >= 19
    for v in t.delta[2][0]:
        assert f"δ={v:.3g}" in svg
    for v in t.dC_dW[3].ravel():
        assert f"{v:.3g}" in svg
    assert "forward and backward" in capsys.readouterr().err


def test_figure_labels_do_not_overlap_at_8_8_8_8():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from chainrule.plots import backprop_figure

    net = chainrule.lesson_network([8, 8, 8, 8])
    rng = np.random.default_rng(0)
    fig = backprop_figure(chainrule.explain_trace(net, rng.normal(size=8), 3))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes[:2]:
        boxes = [
            t.get_window_extent(renderer) for t in ax.texts if t.get_text().startswith(("a=", "δ="))
        ]
        assert len(boxes) == 32
        for k, b in enumerate(boxes):
            for c in boxes[k + 1 :]:
                assert not b.overlaps(c), "unit labels overlap"
