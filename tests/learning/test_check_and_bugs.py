"""Check my work (chainrule.check, explain --check), per-entry gradcheck and planted bugs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule
from chainrule.answers import expected_answers
from chainrule.bugs import BUGS, PlantedBug, backprop_by_hand, planted_backprop
from chainrule.cli import main

X1, Y1 = [1.0, -0.5], [1.0, 0.0]


def _softmax_net():
    return chainrule.lesson_network([3, 4, 3], output_activation="softmax", cost="log_likelihood")


def _data(n=5, n_in=3, n_out=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, n_in)), np.eye(n_out)[rng.integers(0, n_out, n)]


# --------------------------------------------------------------------------- defaults


def test_lesson_network_is_explains_default_network(capsys):
    assert main(["explain", "--sizes", "2,3,2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    net = chainrule.lesson_network([2, 3, 2])
    W2 = next(s for s in doc["steps"] if s["key"] == "W[2]")["values"]
    np.testing.assert_array_equal(np.array(W2), net.weights[0])
    assert doc["example"] == {"x": X1, "y": Y1}


def test_explain_and_gradcheck_share_their_defaults():
    import argparse

    from chainrule.cli import explain, gradcheck_command

    parsed = []
    for mod, command in ((explain, "explain"), (gradcheck_command, "gradcheck")):
        parser = argparse.ArgumentParser()
        mod.register(parser.add_subparsers())
        args = parser.parse_args([command])
        parsed.append(
            {
                k: getattr(args, k)
                for k in ("sizes", "activation", "cost", "input_activation", "init", "seed")
            }
        )
    assert parsed[0] == parsed[1]
    assert parsed[0]["init"] == chainrule.LESSON_DEFAULTS["init"]


# --------------------------------------------------------------------------- check()


def test_check_accepts_the_solution_and_names_the_first_wrong_entry():
    net = chainrule.lesson_network([2, 3, 2])
    trace = chainrule.explain_trace(net, X1, Y1)
    sol = expected_answers(trace)
    assert chainrule.check(net, X1, Y1, sol).passed
    # Four significant figures, typed by hand, pass.
    typed = {k: np.vectorize(lambda v: float(f"{v:.4g}"))(np.array(v)) for k, v in sol.items()}
    assert chainrule.check(net, X1, Y1, typed).passed
    wrong = dict(sol)
    wrong["δ^2"] = list(sol["δ^2"])
    wrong["δ^2"][2] += 0.5
    result = chainrule.check(net, X1, Y1, wrong)
    e = result.first_wrong
    assert not result and e is not None
    assert (e.name, e.layer, e.index) == ("δ^2", 2, (3,))
    assert e.expected == pytest.approx(trace.delta[2][0, 2])
    assert e.got == pytest.approx(trace.delta[2][0, 2] + 0.5)
    assert "δ^2_3 (layer 2, index 3)" in str(result) and "eq. 6" in str(result)


def test_check_reports_the_cause_first_not_the_consequence():
    """A wrong δ^2 makes ∂C/∂W^2 wrong too; the report names δ^2 (earlier in the derivation)."""
    net = chainrule.lesson_network([2, 3, 2])

    def mine(weights, biases, x, y):
        gw, gb = backprop_by_hand(net, x[None], y[None], "missing-sigma-prime")
        return {"grad_W[2]": gw[0], "grad_b[3]": gb[1], "delta[2]": gb[0]}

    e = chainrule.check(net, X1, Y1, mine).first_wrong
    assert e is not None and e.name == "δ^2"


def test_check_takes_a_function_like_network_backprop():
    net = chainrule.lesson_network([2, 3, 2])

    def right(weights, biases, x, y):
        assert [W.shape for W in weights] == [(3, 2), (2, 3)]
        return backprop_by_hand(net, x[None], y[None])

    assert chainrule.check(net, X1, Y1, right).passed


def test_check_explains_a_shape_or_layout_mistake():
    net = chainrule.lesson_network([2, 3, 2])
    r = chainrule.check(net, X1, Y1, {"∂C/∂W^2": np.zeros((2, 3))})
    assert "has shape (2, 3), expected (3, 2)" in str(r) and "dC_dW[2]" in str(r)
    with pytest.raises(ValueError, match="answer key 'Q\\^2'"):
        chainrule.check(net, X1, Y1, {"Q^2": [1, 2, 3]})
    with pytest.raises(ValueError, match="layer 9 is not between 2 and 3"):
        chainrule.check(net, X1, Y1, {"grad_b[9]": [1, 2]})


# --------------------------------------------------------------------------- gradcheck entries


def test_gradcheck_names_the_wrong_entries():
    net = _softmax_net()
    X, Y = _data()

    def only_w3_11_wrong(X, Y):
        gw, gb = net.backprop(X, Y)
        gw[1][0, 0] += 1.0
        return gw, gb

    report = chainrule.gradcheck(net, X, Y, backprop=only_w3_11_wrong)
    assert not report.passed
    assert [e.name for e in report.wrong_entries()] == ["w^3_1,1"]
    assert "wrong entries (1): w^3_1,1" in str(report)
    table = report.format_entries()
    assert len(table.splitlines()) == 1 + net.n_parameters
    assert sum("WRONG" in line for line in table.splitlines()) == 1


def test_backprop_by_hand_without_a_bug_is_backprop():
    net = _softmax_net()
    X, Y = _data()
    (hw, hb), (fw, fb) = backprop_by_hand(net, X, Y), net.backprop(X, Y)
    for got, want in zip(hw + hb, fw + fb, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert chainrule.gradcheck(net, X, Y, backprop=planted_backprop(net, None)).passed


EXPECTED_WRONG = {
    # bug: arrays that must hold wrong entries, arrays that must not
    "missing-sigma-prime": ({"W^2", "b^2"}, {"W^3", "b^3"}),
    "transposed-weights": ({"W^2", "W^3"}, {"b^2", "b^3"}),
    "wrong-softmax-jacobian": ({"W^2", "W^3", "b^2", "b^3"}, set()),
    "bias-gradient-not-summed": ({"b^2", "b^3"}, {"W^2", "W^3"}),
    "off-by-one-layer": ({"W^2", "b^2"}, {"W^3", "b^3"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_planted_bug_is_caught_with_its_entries_named(bug):
    net = _softmax_net()
    X, Y = _data()
    report = chainrule.gradcheck(net, X, Y, backprop=planted_backprop(net, bug))
    assert not report.passed
    arrays = {e.array for e in report.wrong_entries()}
    must, must_not = EXPECTED_WRONG[bug]
    assert must <= arrays and not (arrays & must_not), arrays


@pytest.mark.parametrize("bug", list(BUGS))
def test_gradcheck_plant_bug_on_the_command_line(bug, capsys):
    code = main(
        [
            "gradcheck",
            "--sizes",
            "3,4,3",
            "--output-activation",
            "softmax",
            "--cost",
            "log_likelihood",
            "--plant-bug",
            bug,
            "--entries",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"planted bug: {bug}" in out and "gradcheck FAILED" in out
    assert "wrong entries (" in out and "WRONG" in out
    must, _ = EXPECTED_WRONG[bug]
    for array in must:
        name = array[0].lower() + array[1:] + "_"
        assert any(line.startswith(name) and line.endswith("WRONG") for line in out.splitlines()), (
            array,
            out,
        )


def test_gradcheck_entries_without_a_bug_lists_every_entry_ok(capsys):
    assert main(["gradcheck", "--sizes", "2,3,2", "--entries"]) == 0
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith(("w^", "b^")) and "_" in line.split()[0]
    ]
    assert len(rows) == 3 * 2 + 3 + 2 * 3 + 2 and all(r.endswith("ok") for r in rows)


def test_planted_bug_that_the_network_cannot_show_is_a_one_line_error(capsys):
    assert main(["gradcheck", "--plant-bug", "wrong-softmax-jacobian"]) == 2
    assert "needs a softmax output" in capsys.readouterr().err
    assert main(["explain", "--sizes", "2,2", "--plant-bug", "missing-sigma-prime"]) == 2
    assert "needs a hidden layer" in capsys.readouterr().err


# --------------------------------------------------------------------------- explain


def test_explain_check_answers_file(tmp_path, capsys):
    net = chainrule.lesson_network([2, 3, 2])
    sol = expected_answers(chainrule.explain_trace(net, X1, Y1))
    f = tmp_path / "answers.json"
    f.write_text(json.dumps(sol, ensure_ascii=False))
    assert main(["explain", "--sizes", "2,3,2", "--check", str(f)]) == 0
    out = capsys.readouterr().out
    assert "Check my work: your answers in" in out and "PASS: check: all 22 entries" in out
    sol["∂C/∂W^3"][1][2] = 7.0
    f.write_text(json.dumps(sol, ensure_ascii=False))
    assert main(["explain", "--sizes", "2,3,2", "--check", str(f)]) == 1
    out = capsys.readouterr().out
    assert "first wrong entry: ∂C/∂W^3_2,3 (layer 3, index 2,3)" in out and "got 7" in out
    f.write_text("[1, 2]")
    assert main(["explain", "--check", str(f)]) == 2
    assert "expected a JSON object of answers" in capsys.readouterr().err
    f.write_text("{")
    assert main(["explain", "--check", str(f)]) == 2
    assert "line 1, column 2: not JSON" in capsys.readouterr().err


def test_explain_says_what_its_check_cannot_catch(capsys):
    assert main(["explain", "--sizes", "2,3,2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "What this check cannot catch" in out and "chainrule gradcheck" in out


@pytest.mark.parametrize("bug", [b for b in BUGS if b != "bias-gradient-not-summed"])
def test_explain_plant_bug_fails_on_one_example(bug, capsys):
    args = [
        "explain",
        "--sizes",
        "3,4,3",
        "--output-activation",
        "softmax",
        "--cost",
        "log_likelihood",
        "--plant-bug",
        bug,
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL: first wrong entry" in out


def test_a_batch_bug_is_invisible_on_one_example(capsys):
    """explain checks one example: the bias sum over a batch is not exercised there."""
    assert main(["explain", "--sizes", "2,3,2", "--plant-bug", "bias-gradient-not-summed"]) == 0
    assert main(["gradcheck", "--sizes", "2,3,2", "--plant-bug", "bias-gradient-not-summed"]) == 1
    capsys.readouterr()


# --------------------------------------------------------------------------- train


def test_planted_bug_in_training_changes_the_steps():
    X, Y = _data(40)
    nets = [_softmax_net() for _ in range(2)]
    nets[0].fit(X, Y, epochs=3, batch_size=10, learning_rate=0.5, seed=0)
    nets[1].fit(
        X,
        Y,
        epochs=3,
        batch_size=10,
        learning_rate=0.5,
        seed=0,
        callbacks=[PlantedBug("off-by-one-layer", X, Y)],
    )
    start = _softmax_net()
    # The first layer never moves under off-by-one-layer (but for round-off in
    # "loop's gradient − right + buggy"); the right gradient moves it.
    np.testing.assert_allclose(nets[1].weights[0], start.weights[0], rtol=0, atol=1e-12)
    assert np.abs(nets[0].weights[0] - start.weights[0]).max() > 1e-3
    assert not np.array_equal(nets[1].weights[1], start.weights[1])


def test_train_plant_bug_on_the_command_line(capsys):
    code = main(
        [
            "train",
            "--data",
            "xor",
            "--hidden",
            "4",
            "--epochs",
            "2",
            "--plant-bug",
            "missing-sigma-prime",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "planted bug: missing-sigma-prime" in out
    code = main(
        [
            "train",
            "--data",
            "xor",
            "--hidden",
            "4",
            "--epochs",
            "2",
            "--optimizer",
            "lbfgs",
            "--plant-bug",
            "missing-sigma-prime",
        ]
    )
    assert code == 2 and "--plant-bug needs a gradient-descent optimizer" in capsys.readouterr().err


def test_explain_says_when_a_planted_bug_cannot_show_on_one_example(capsys):
    assert main(["explain", "--sizes", "2,3,2", "--plant-bug", "bias-gradient-not-summed"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "does not show on one example" in out
    assert "chainrule gradcheck --plant-bug bias-gradient-not-summed" in out


def test_float32_explain_compares_a_planted_bug_at_float32_precision(capsys):
    assert (
        main(
            [
                "explain",
                "--sizes",
                "2,3,2",
                "--dtype",
                "float32",
                "--plant-bug",
                "bias-gradient-not-summed",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "explain",
                "--sizes",
                "2,3,2",
                "--dtype",
                "float32",
                "--plant-bug",
                "missing-sigma-prime",
            ]
        )
        == 1
    )
    capsys.readouterr()


def test_expand_with_check_prints_the_verdict(capsys):
    assert (
        main(
            ["explain", "--sizes", "2,3,2", "--expand", "b^3_1", "--plant-bug", "off-by-one-layer"]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "∂C/∂b^3_1 = δ^3_1" in out and "FAIL: first wrong entry: ∂C/∂W^2_1,1" in out
