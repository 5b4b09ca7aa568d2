"""Free-text columns as a bag of frequent words (role ``text``, encoding kind ``words``).

The tables are made here: a car-like ``name`` whose first word (the maker) decides the
target, as in vega_datasets' ``cars`` (benchmarks/tables.py), a key unique per row, and
a comment column in which no word is frequent.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data import read_data_file
from chainrule.data.roles import (
    decide_roles,
    frequent_words,
    vocabulary,
    word_counts,
    words_of,
)
from chainrule.data.tables import TableEncoding, word_inputs

FAST = ["--epochs", "30", "--progress", "none"]
MAKERS = {"ford": "usa", "chevrolet": "usa", "toyota": "japan", "datsun": "japan", "vw": "europe"}


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def train_argv(path):
    return ["train", "--data", path, "--target", "origin", "--missing", "impute", *FAST]


def cars_table(path, n=200, seed=0):
    """name (maker + model, free text), code (a key), comment (no frequent word), colour
    (two categories), x."""
    rng = np.random.default_rng(seed)
    models = [f"m{k}" for k in range(90)]
    rows = [["code", "name", "comment", "colour", "x", "origin"]]
    for i in range(n):
        maker = str(rng.choice(list(MAKERS)))
        name = f"{maker.title()} {rng.choice(models)}" + (" (SW)" if i % 7 == 0 else "")
        rows.append(
            [
                f"K-{i:05d}",
                "" if i % 23 == 5 else name,
                f"w{rng.integers(400)}",
                str(rng.choice(["red", "blue"])),
                f"{rng.normal():.3f}",
                MAKERS[maker],
            ]
        )
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path


def test_words_are_lower_cased_letters_and_digits_and_frequent_ones_are_kept():
    assert words_of("Chevrolet Chevelle-Malibu (sw) 2.0_L é") == [
        "chevrolet",
        "chevelle",
        "malibu",
        "sw",
        "2",
        "0",
        "l",
        "é",
    ]
    cells = np.array(["a b", "a c", "a b", "a", "", "a b", "a b", "a b c"] * 2)
    assert word_counts(cells) == {"a": 14, "b": 10, "c": 4}
    # "a" is in every cell with text: it tells nothing; "c" is in fewer than 5 rows.
    assert frequent_words(cells) == ["b"]
    assert frequent_words(np.array([f"w{i % 60} z{i}" for i in range(600)]), max_words=3) == [
        "w0",
        "w1",
        "w10",
    ]
    # From statistics that parts of the rows add up (MPI ranks): the same vocabulary.
    many = np.array([f"w{i % 7} v{i % 50} x{i}" if i % 9 else "" for i in range(900)])
    parts = [word_counts(many[:400]), word_counts(many[400:])]
    total = {w: parts[0].get(w, 0) + parts[1].get(w, 0) for w in {*parts[0], *parts[1]}}
    assert vocabulary(total, 900, int((many != "").sum())) == frequent_words(many)
    assert sorted(frequent_words(many)[:7]) == [f"w{k}" for k in range(7)]  # x… are rare
    X = word_inputs(np.array(["B a", "", "x", "c-b"]), ["b", "c"])
    assert X.tolist() == [[1, 0], [0, 0], [0, 0], [1, 1]]


def test_roles_free_text_with_frequent_words_is_text_keys_and_noise_stay_excluded(tmp_path):
    data = read_data_file(cars_table(tmp_path / "c.csv"), target="origin")
    roles = {r.name: r for r in decide_roles(data)}
    assert roles["name"].role == "text" and roles["name"].reason.startswith("free text (")
    assert roles["code"].role == "excluded" and roles["code"].reason.startswith("unique per row")
    assert roles["comment"].role == "excluded"
    assert roles["comment"].reason.endswith("no word in 5 rows or more")
    assert roles["x"].role == "numeric"


def test_train_prints_the_words_uses_them_and_info_repeats_them(tmp_path, capsys):
    path = cars_table(tmp_path / "c.csv")
    model = tmp_path / "m.npz"
    argv = ["train", "--data", path, "--target", "origin", "--missing", "impute", *FAST]
    code, out, err = run(capsys, [*argv, "--save", model])
    assert code == 0, err
    block = out.split("data:")[0]
    line = next(x for x in block.splitlines() if x.startswith("  text:"))
    assert line.startswith("  text:        name → 6 words (")
    assert set(line.split("(")[1].rstrip(")…, ").split(", ")) <= set(MAKERS) | {"sw"}
    assert "excluded:    comment — free text (" in block
    assert "3 columns (1 text, one-hot, 1 free text, bag of words) → 9 inputs" in out
    # The maker decides (rows whose name is missing are guesses).
    assert float(out.split("test accuracy: ")[1].split("%")[0]) >= 95.0
    code, info, _ = run(capsys, ["info", model])
    assert line in info and "name: words → 6 0/1 inputs (" in info
    assert "missing → no words" in info
    # Without the words (the old behaviour) the maker is lost.
    code, out, _ = run(capsys, [*argv, "--exclude", "name"])
    assert "excluded:    name — --exclude" in out
    assert float(out.split("test accuracy: ")[1].split("%")[0]) < 80.0


def test_python_predicts_by_name_as_the_cli_does_and_inputs_are_unscaled(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from chainrule.io import load_model

    path = cars_table(tmp_path / "c.csv")
    test = cars_table(tmp_path / "t.csv", n=60, seed=1)
    model_path = tmp_path / "m.npz"
    code, _, err = run(
        capsys,
        [*train_argv(path), "--dtype", "float32", "--save", model_path],
    )
    assert code == 0, err
    code, out, err = run(capsys, ["predict", model_path, "--data", test])
    assert code == 0, err
    df = pd.read_csv(test, keep_default_na=False)
    reversed_df = df[list(reversed(df.columns))]
    model = load_model(model_path)
    assert list(model.predict(reversed_df)) == out.splitlines()[1:]
    scores = model.evaluate(reversed_df)
    code, out, err = run(capsys, ["evaluate", model_path, "--data", test])
    assert code == 0 and f"accuracy: {100 * scores['accuracy']:.2f}%" in out, (scores, out)
    proba = model.predict_proba(reversed_df)
    assert proba.dtype == np.float32  # float32 preserved
    np.testing.assert_array_equal(proba, model.predict_proba(df))
    X = model.transform(reversed_df)
    words = next(c for c in model.encoding.columns if c.kind == "words")
    k = [c.name for c in model.encoding.columns].index("name")
    assert k == 0 and set(np.unique(X[:, : words.width])) == {0.0, 1.0}  # 0/1, not scaled
    expected = word_inputs(df["name"].to_numpy(str), words.words)
    np.testing.assert_array_equal(X[:, : words.width], expected)
    step = model.pipeline()[0]
    assert step["kind"] == "words" and step["words"] == words.words and step["fill"] == ""


def test_text_option_forces_or_fixes_the_words_and_bad_lists_are_refused(tmp_path, capsys):
    path = cars_table(tmp_path / "c.csv")
    model = tmp_path / "m.npz"
    base = ["train", "--data", path, "--target", "origin", "--missing", "impute", *FAST]
    code, out, err = run(capsys, [*base, "--text", "name=Toyota,ford", "--save", model])
    assert code == 0, err
    assert "  text:        name → 2 words (toyota, ford) (--text)" in out
    from chainrule.io import load_model

    loaded = load_model(model)
    assert [c.words for c in loaded.encoding.columns if c.kind == "words"] == [["toyota", "ford"]]
    # A column that would be categorical, read as words.
    code, out, err = run(capsys, [*base, "--text", "colour"])
    assert code == 0, err
    assert "  text:        colour → 2 words (" in out and "categorical" not in out
    for bad, needle in (
        ("name=Ford Motor", "'ford motor' is not one lower-case word"),
        ("name=ford,ford", "'ford' is listed twice"),
        ("name=,", "no words"),
        ("nope", "--text 'nope': not a column of the table"),
    ):
        code, _, err = run(capsys, [*base, "--text", bad])
        assert code == 2 and err.count("\n") == 1 and needle in err, err
    # A vocabulary that ends up empty (the 30 training rows hold no word 5 times).
    rare = tmp_path / "rare.csv"
    lines = [f"{'foo ' if i < 4 else ''}a{i} b{i},{i % 5},{i % 2}\n" for i in range(40)]
    rare.write_text("t,x,y\n" + "".join(lines))
    code, out, err = run(capsys, ["train", "--data", rare, "--target", "y", "--text", "t", *FAST])
    assert code == 0 and "t → 0 words (none is frequent in the training rows)" in out, err
    code, _, err = run(capsys, [*base, "--text", "name", "--categorical", "name"])
    assert code == 2 and "named by both --categorical and --text" in err


def test_the_vocabulary_round_trips_and_a_bad_one_is_refused(tmp_path, capsys):
    from chainrule.io import METADATA_KEY

    path = cars_table(tmp_path / "c.csv")
    model = tmp_path / "m.npz"
    code, _, err = run(
        capsys,
        [*train_argv(path), "--save", model],
    )
    assert code == 0, err
    with zipfile.ZipFile(model) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    meta_name = f"{METADATA_KEY}.npy"
    meta = json.loads(np.load(io.BytesIO(entries[meta_name])).tobytes().decode())
    doc = meta["preprocessing"]["encoding"]
    assert TableEncoding.from_json(doc).to_json() == doc
    words = doc["columns"][0]["words"]
    assert doc["columns"][0]["kind"] == "words" and len(words) == 6
    name_role = next(r for r in doc["roles"] if r["name"] == "name")

    def set_role(e, **kw):
        next(r for r in e["roles"] if r["name"] == "name").update(kw)

    for damage, message in (
        (lambda e: e["columns"][0].update(words=["Ford", *words[1:]]), "'Ford' is not one"),
        (lambda e: e["columns"][0].update(words=[words[0], *words[1:-1], words[0]]), "twice"),
        (lambda e: e["columns"][0].update(words="ford"), "not a list"),
        (lambda e: e["columns"][0].update(fill="ford"), "bad fill value"),
        (lambda e: set_role(e, role="categorical"), "words column of the encoding"),
        (lambda e: set_role(e, words=["ford"] * 2), "bad words"),
        (lambda e: set_role(e, words=words[::-1]), "words column of the encoding"),
    ):
        broken = json.loads(json.dumps(meta))
        damage(broken["preprocessing"]["encoding"])
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(broken).encode(), dtype=np.uint8))
        bad = tmp_path / "broken.npz"
        with zipfile.ZipFile(bad, "w") as z:
            for name, raw in entries.items():
                z.writestr(name, buf.getvalue() if name == meta_name else raw)
        code, _, err = run(capsys, ["info", bad])
        assert code == 2 and "corrupted model file" in err and message in err, (message, err)
    assert name_role["role"] == "text"
