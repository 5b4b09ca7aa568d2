"""Benchmark chainrule's ``Network.fit`` against PyTorch, scikit-learn and plain NumPy.

One command, every peer interleaved in the same run::

    python benchmarks/run.py                       # full run, prints Markdown tables
    python benchmarks/run.py --quick               # smoke run: 1 round, 6,000 rows
    python benchmarks/run.py --output docs/performance.md

Each trial is a fresh process (``benchmarks/trial.py``) that trains one epoch of plain
mini-batch SGD; trials of all implementations, workloads and dtypes are shuffled together
in every round, so load from other processes on the machine hits every peer alike and the
ratios stay meaningful. The float32/float64 GEMM limit is measured in the same rounds.
PyTorch and scikit-learn are optional: a missing one is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import MAX_LOAD_PER_CORE, LoadMeter, summarise  # noqa: E402
from peers import IMPLEMENTATIONS, LABELS, OPTIONAL_MODULES  # noqa: E402
from report import Results, readme_sentence, render_markdown, write_output  # noqa: E402
from workloads import DEFAULT_WORKLOADS, WORKLOADS  # noqa: E402

#: Variables that some machines set for old OpenBLAS builds; they slow a current NumPy.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def trial_environment(
    threads: int, keep_openblas_env: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Environment of every trial process, and the variables removed from it.

    All peers get the same thread count; the repository's ``src/`` goes first on
    ``PYTHONPATH`` so the working tree's chainrule is the one measured.
    """
    env = dict(os.environ)
    removed: dict[str, str] = {}
    if not keep_openblas_env:
        for name in OPENBLAS_OVERRIDES:
            if name in env:
                removed[name] = env.pop(name)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    src = HERE.parent / "src"
    paths = (
        [str(HERE)]
        + ([str(src)] if src.is_dir() else [])
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env, removed


def run_trial(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``trial.py`` with ``args`` in a fresh process and parse its JSON line."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "trial.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return {"error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def available_implementations(
    wanted: list[str], env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Implementations whose library imports in the trial environment, and notes for the rest."""
    have: list[str] = []
    notes: dict[str, str] = {}
    for impl in wanted:
        if impl == "chainrule-baseline" and not env.get("CHAINRULE_BASELINE_SRC"):
            notes[impl] = "skipped: set CHAINRULE_BASELINE_SRC to another chainrule `src/`"
            continue
        module = OPTIONAL_MODULES.get(impl)
        if module is not None:
            proc = subprocess.run(
                [sys.executable, "-c", f"import {module}"],
                env=env,
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0:
                hint = " (`pip install torch==2.13.0`)" if module == "torch" else ""
                notes[impl] = f"skipped: `{module}` is not importable{hint}"
                continue
        have.append(impl)
    return have, notes


def trial_args(
    job: tuple[str, ...], samples: dict[str, int], args: argparse.Namespace
) -> list[str]:
    """Command-line arguments of ``trial.py`` for one job."""
    if job[0] == "gemm":
        return ["gemm", "--dtype", job[1], "--size", str(args.gemm_size)]
    _, w, d, i = job
    return [
        *("fit", "--impl", i, "--workload", w, "--dtype", d),
        *("--samples", str(samples[w]), "--threads", str(args.threads)),
    ]


def save(
    results: Results, context: dict[str, Any], args: argparse.Namespace, *, final: bool
) -> str:
    """Render the report of the finished rounds and write ``--output`` / ``--json`` if asked."""
    text = render_markdown(results, context)
    load = context.get("load") or {}
    if args.output is not None and (load.get("quiet") or args.allow_busy):
        write_output(args.output, text)
        if final:
            print(f"wrote {args.output}", file=sys.stderr)
    if args.json is not None:
        payload = {"context": context, "trials": results.raw}
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one round on 6,000 rows and a 2048^3 GEMM (a smoke run)",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds of interleaved trials (default 5, quick 1)"
    )
    parser.add_argument(
        "--workloads",
        default=",".join(DEFAULT_WORKLOADS),
        help="comma-separated subset of " + ", ".join(WORKLOADS),
    )
    parser.add_argument(
        "--dtype", default="float32,float64", help="float32, float64 or both (comma-separated)"
    )
    parser.add_argument(
        "--impls",
        default=",".join(
            i for i in IMPLEMENTATIONS if i not in ("chainrule-baseline", "chainrule-cupy")
        ),
        help="comma-separated subset of " + ", ".join(IMPLEMENTATIONS),
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="rows of training data (default 60,000; tiny 30,000)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="device of the PyTorch/CuPy rows (torch, torch-manual, chainrule-torch, "
        "chainrule-cupy), e.g. cuda; NumPy rows always run on the CPU",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="BLAS/PyTorch threads in every trial (default 2)"
    )
    parser.add_argument(
        "--gemm-size",
        type=int,
        default=None,
        help="side of the GEMM-limit probe (default 4096, quick 2048)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the trial order")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a trial is abandoned"
    )
    parser.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if set",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the Markdown report here (e.g. docs/performance.md)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw trial results as JSON"
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=MAX_LOAD_PER_CORE,
        help="the most CPU other processes may use, per core, for --output to be written "
        "(default %(default)s; see benchmarks/load.py)",
    )
    parser.add_argument(
        "--allow-busy",
        action="store_true",
        help="write --output even from a busy run, marked as such",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.gemm_size is None:
        args.gemm_size = 2048 if args.quick else 4096
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    args.dtypes = [
        d.strip() for d in args.dtype.replace("both", "float32,float64").split(",") if d.strip()
    ]
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    for name, choices in (
        ("workload", WORKLOADS),
        ("dtype", ("float32", "float64")),
        ("impl", IMPLEMENTATIONS),
    ):
        for value in getattr(args, name + "s"):
            if value not in choices:
                parser.error(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally write) the report."""
    args = parse_args(argv)
    env, removed = trial_environment(args.threads, args.keep_openblas_env)
    env["CHAINRULE_BENCH_DEVICE"] = args.device  # read by peers.device()
    info = run_trial(["info"], env, args.timeout)
    impls, notes = available_implementations(args.impls, env)
    samples = {w: args.samples or WORKLOADS[w].n_samples(args.quick) for w in args.workloads}

    jobs: list[tuple[str, ...]] = [("gemm", d) for d in args.dtypes]
    jobs += [("fit", w, d, i) for w in args.workloads for d in args.dtypes for i in impls]
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    context: dict[str, Any] = {
        "command": command.strip(),
        "info": info,
        "removed_env": removed,
        "threads": args.threads,
        "device": args.device,
        "rounds": 0,
        "samples": samples,
        "gemm_size": args.gemm_size,
        "notes": notes,
        "labels": LABELS,
        "impls": impls,
        "workloads": args.workloads,
        "dtypes": args.dtypes,
    }
    results = Results()
    order = random.Random(args.seed)
    started = time.perf_counter()
    meter, loads = LoadMeter(), []
    cpus = int(info.get("cpus") or os.cpu_count() or 1)
    original = (
        args.output.read_text(encoding="utf-8")
        if args.output is not None and args.output.exists()
        else None
    )
    try:
        for r in range(args.rounds):
            order.shuffle(jobs)
            for k, job in enumerate(jobs, 1):
                meter.start()
                out = run_trial(trial_args(job, samples, args), env, args.timeout)
                load = meter.stop()
                loads.append(load)
                out = {**out, "others_load": load["others_load"]}
                results.add(job, out)
                context["load"] = summarise(loads, cpus, args.max_load)
                shown = out.get("error") or (
                    f"{out['gflops']:.0f} GFLOP/s"
                    if job[0] == "gemm"
                    else f"{out['seconds']:.3f} s"
                )
                print(
                    f"[round {r + 1}/{args.rounds} {k:2d}/{len(jobs)} "
                    f"{time.perf_counter() - started:6.0f}s] {' '.join(job)}: {shown}",
                    file=sys.stderr,
                )
            context["rounds"] = r + 1
            save(results, context, args, final=False)  # an interrupted run keeps finished rounds
    except KeyboardInterrupt:
        print(f"interrupted: reporting {context['rounds']} finished round(s)", file=sys.stderr)
    print(save(results, context, args, final=True))
    sentence = readme_sentence(results, context)
    if sentence:
        print(f"README sentence: {sentence}", file=sys.stderr)
    load = context.get("load") or {}
    if load.get("quiet") or args.output is None:
        return 0
    per_core = load.get("per_core")
    busy = "unknown" if per_core is None else f"{per_core:.2f}"
    if args.allow_busy:
        print(
            f"warning: {args.output} written from a busy run ({busy} cores per core used "
            f"by other processes, limit {args.max_load}); it says so",
            file=sys.stderr,
        )
        return 0
    if args.output.exists() and original is not None:
        args.output.write_text(original, encoding="utf-8")  # undo a quiet early round's write
    elif args.output.exists() and original is None:
        args.output.unlink()
    print(
        f"error: not writing {args.output}: other processes used {busy} cores per core "
        f"during the run (limit {args.max_load}, {cpus} CPUs); rerun on a quiet machine, "
        "or pass --allow-busy to write it marked as busy",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
