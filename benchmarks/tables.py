"""Raw public tables: ``chainrule train`` against scikit-learn's default pipeline.

Each table is used as shipped (text columns, missing cells, names/IDs, dates): split
once per seed into ``train.csv`` and ``test.csv`` (seeded, stratified for classes),
then

* ``chainrule train --data train.csv --target T --test-data test.csv --missing impute
  --seed S`` (all other options at their defaults), and
* scikit-learn's default pipeline on the same files: ``SimpleImputer`` (median /
  most frequent) + ``StandardScaler`` on the numeric columns, ``SimpleImputer`` +
  ``OneHotEncoder(handle_unknown="ignore")`` on the text columns, then
  ``MLPClassifier(random_state=S)`` (or ``MLPRegressor``) with its defaults,

over seeds 0–2.  The tables come from packages (``palmerpenguins``' CSV in
``tests/data``, and ``vega_datasets``' ``cars``, ``seattle-weather`` and ``airports``:
``python3 -m pip install vega_datasets``); a table whose package is missing is skipped.
What each holds:

* penguins: text categories, 11 rows with missing cells, a year;
* cars: a free-text ``Name`` ("chevrolet chevelle malibu", whose first word is the
  maker), missing cells, a date column ``Year``;
* seattle-weather: a date column, numbers;
* airports: an ID (``iata``, unique per row), free-text ``name`` and ``city``,
  categories ``state`` and ``country``, 12 rows with missing cells; the target is
  the latitude (regression).

Run: ``python3 benchmarks/tables.py`` (a few minutes).  Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _vega(name: str) -> Path | None:
    try:
        import vega_datasets
    except ImportError:
        return None
    return Path(vega_datasets.__file__).parent / "_data" / name


def tables() -> list[tuple[str, Path, str, str]]:
    """(label, csv path, target, task) of each table found."""
    out = [
        (
            "penguins (species)",
            ROOT / "tests" / "data" / "penguins.csv",
            "species",
            "classification",
        )
    ]
    work = Path(tempfile.mkdtemp(prefix="chainrule-tables-"))
    cars = _vega("cars.json")
    if cars is not None and cars.exists():
        import csv

        rows = json.loads(cars.read_text())
        path = work / "cars.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        out.append(("cars (Origin)", path, "Origin", "classification"))
        out.append(("cars (Miles_per_Gallon)", path, "Miles_per_Gallon", "regression"))
    weather = _vega("seattle-weather.csv")
    if weather is not None and weather.exists():
        out.append(("seattle-weather (weather)", weather, "weather", "classification"))
    airports = _vega("airports.csv")
    if airports is not None and airports.exists():
        out.append(("airports (latitude)", airports, "latitude", "regression"))
    return out


def split(path: Path, target: str, seed: int, task: str, where: Path) -> tuple[Path, Path]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(path, keep_default_na=True)
    df = df[df[target].notna()]  # both sides drop rows without a target
    strat = df[target] if task == "classification" else None
    train, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=strat)
    a, b = where / "train.csv", where / "test.csv"
    train.to_csv(a, index=False)
    test.to_csv(b, index=False)
    return a, b


def chainrule_score(train: Path, test: Path, target: str, seed: int, task: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--data",
            str(train),
            "--target",
            target,
            "--test-data",
            str(test),
            "--missing",
            "impute",
            "--seed",
            str(seed),
            "--progress",
            "none",
            "--task",
            task,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    if task == "classification":
        return float(re.search(r"test accuracy: ([\d.]+)%", out).group(1)) / 100
    return float(re.search(r"R²: ([-\d.]+)", out).group(1))


def sklearn_score(train: Path, test: Path, target: str, seed: int, task: str) -> float:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    a, b = pd.read_csv(train), pd.read_csv(test)
    X, y = a.drop(columns=[target]), a[target]
    Xt, yt = b.drop(columns=[target]), b[target]
    text = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype) == "str"]
    numbers = [c for c in X.columns if c not in text]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                text,
            ),
        ]
    )
    est = (
        MLPClassifier(random_state=seed)
        if task == "classification"
        else MLPRegressor(random_state=seed)
    )
    model = make_pipeline(prep, est)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y.astype(str) if task == "classification" else y)
    return float(model.score(Xt, yt.astype(str) if task == "classification" else yt))


def main() -> None:
    print("| table | task | seed | chainrule | scikit-learn |")
    print("|---|---|---|---|---|")
    for label, path, target, task in tables():
        ours, theirs = [], []
        for seed in range(3):
            with tempfile.TemporaryDirectory() as d:
                train, test = split(path, target, seed, task, Path(d))
                ours.append(chainrule_score(train, test, target, seed, task))
                theirs.append(sklearn_score(train, test, target, seed, task))
            print(f"| {label} | {task} | {seed} | {ours[-1]:.3f} | {theirs[-1]:.3f} |", flush=True)
        print(
            f"| {label} | {task} | mean | {np.mean(ours):.3f} | {np.mean(theirs):.3f} |", flush=True
        )


if __name__ == "__main__":
    main()
