"""``chainrule plot --what boundary`` (and ``--animate``): the decision boundary of 2-D data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chainrule
from chainrule.cli import main
from chainrule.data import load_dataset
from chainrule.plots.boundary import boundary_animation, boundary_figure


@pytest.fixture(scope="module")
def moons_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("boundary") / "moons.npz"
    assert (
        main(
            [
                "train",
                "--data",
                "moons",
                "--hidden",
                "6",
                "--epochs",
                "3",
                "--save",
                str(path),
                "--quiet",
            ]
        )
        == 0
    )
    return path


def _fitted():
    d = load_dataset("moons", seed=0)
    net = chainrule.Network(
        [2, 6, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    net.fit(d.X, d.y, epochs=10, learning_rate=0.5, batch_size=10, seed=0)
    return net, d


def test_boundary_figure_separates_the_predicted_classes():
    net, d = _fitted()
    fig = boundary_figure(net, d.X, d.y, class_names=["a", "b"])
    ax = fig.axes[0]
    assert "accuracy" in ax.get_title()
    # Every point is drawn, each class in its own colour, and a boundary line exists.
    offsets = np.vstack(
        [
            c.get_offsets()
            for c in ax.collections
            if hasattr(c, "get_offsets")
            and len(c.get_offsets())
            and c.get_offsets().shape[1] == 2
            and type(c).__name__ == "PathCollection"
        ]
    )
    assert len(offsets) == len(d.X)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    image = ax.images[0].get_array()
    assert set(np.unique(image)) == {0, 1}  # both classes win somewhere on the plane


def test_boundary_needs_two_features_and_a_classifier():
    net = chainrule.Network([3, 2], output_activation="softmax", cost="log_likelihood")
    with pytest.raises(ValueError, match="needs data with 2 features, got 3"):
        boundary_figure(net, np.zeros((4, 3)), [0, 1, 0, 1])
    reg = chainrule.Network([2, 1], output_activation="identity")
    with pytest.raises(ValueError, match="for classifiers"):
        boundary_figure(reg, np.zeros((4, 2)), [0, 1, 0, 1])


def test_boundary_animation_writes_one_frame_per_epoch(tmp_path):
    from PIL import Image

    d = load_dataset("moons", seed=0, n_samples=60)
    net = chainrule.Network(
        [2, 4, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0
    )
    before = [W.copy() for W in net.weights]
    out = boundary_animation(net, d.X, d.y, tmp_path / "b.gif", epochs=3, learning_rate=0.5)
    with Image.open(out) as im:
        assert im.n_frames == 4  # the untrained network and after each epoch
    assert len(net.history) == 3 and not np.array_equal(before[0], net.weights[0])
    with pytest.raises(ValueError, match=r"must end in \.gif"):
        boundary_animation(net, d.X, d.y, tmp_path / "b.png")


def test_plot_boundary_on_the_command_line(moons_model, tmp_path, capsys):
    out = tmp_path / "b.svg"
    assert main(["plot", str(moons_model), "--what", "boundary", "-o", str(out)]) == 0
    svg = out.read_text()
    assert "x0" in svg and "accuracy" in svg  # the data's own feature names, raw units
    gif = tmp_path / "b.gif"
    assert main(["plot", str(moons_model), "--what", "boundary", "--animate", "-o", str(gif)]) == 0
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 3 + 1
    assert "boundary over 3 epochs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--what", "boundary", "--animate", "-o", "{tmp}/b.png"], "must end in .gif"),
        (
            ["--what", "curves", "--animate", "-o", "{tmp}/b.gif"],
            "--animate goes with --what boundary",
        ),
    ],
)
def test_plot_animate_bad_options(moons_model, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["plot", str(moons_model), *args]) == 2
    assert message in capsys.readouterr().err


def test_plot_boundary_of_a_model_with_more_features_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "iris.npz"
    assert (
        main(
            [
                "train",
                "--data",
                "iris",
                "--hidden",
                "3",
                "--epochs",
                "1",
                "--save",
                str(path),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["plot", str(path), "--what", "boundary", "-o", str(tmp_path / "b.png")]) == 2
    assert "needs data with 2 features, got 4" in capsys.readouterr().err
