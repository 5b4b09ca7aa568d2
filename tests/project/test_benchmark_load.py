"""benchmarks/load.py and run.py's quiet-machine gate (issue 25).

The README may quote only quiet-machine ratios: ``benchmarks/run.py`` measures the CPU
the *other* processes used during each trial and refuses to write the report from a
run whose mean exceeded 0.5 cores per core (or marks it, with ``--allow-busy``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402
import run  # noqa: E402


def _stat(tmp_path: Path, busy_ticks: int, idle: int = 1000) -> Path:
    f = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal: busy = user + nice + system + …
    f.write_text(f"cpu  {busy_ticks} 0 0 {idle} 7 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    return f


def test_machine_cpu_seconds_reads_the_aggregate_line(tmp_path):
    ticks = load.os.sysconf("SC_CLK_TCK")
    assert load.machine_cpu_seconds(_stat(tmp_path, 3 * ticks)) == pytest.approx(3.0)
    assert load.machine_cpu_seconds(tmp_path / "missing") is None
    bad = tmp_path / "bad"
    bad.write_text("intr 1 2 3\n")
    assert load.machine_cpu_seconds(bad) is None


def test_the_meter_subtracts_the_trials_own_cpu(monkeypatch):
    machine = iter([100.0, 103.0])  # the machine used 3 CPU seconds meanwhile …
    own = iter([10.0, 11.0])  # … 1 of them ours
    clock = iter([0.0, 2.0])  # over 2 s of wall time
    monkeypatch.setattr(load, "machine_cpu_seconds", lambda stat: next(machine))
    monkeypatch.setattr(load, "_own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(load.time, "perf_counter", lambda: next(clock))
    meter = load.LoadMeter()
    meter.start()
    got = meter.stop()
    assert got["others_load"] == pytest.approx(1.0)  # (3 − 1) / 2: one core of others
    assert got["wall"] == pytest.approx(2.0)


def test_summarise_calls_a_run_quiet_only_below_the_limit():
    quiet = load.summarise([{"others_load": 0.2}, {"others_load": 1.6}], cpus=2)
    assert quiet["measure"] == "others" and quiet["per_core"] == pytest.approx(0.45)
    assert quiet["quiet"] and quiet["max_per_core"] == pytest.approx(0.8)
    busy = load.summarise([{"others_load": 1.2}, {"others_load": 1.0}], cpus=2)
    assert not busy["quiet"] and busy["per_core"] == pytest.approx(0.55)
    # Without /proc/stat the 1-minute load average stands in.
    fallback = load.summarise([{"others_load": None, "load1_before": 0.5}], cpus=1)
    assert fallback["measure"] == "load1" and fallback["quiet"]
    assert not load.summarise([], cpus=2)["quiet"]


def _fake_run(monkeypatch, others: float) -> None:
    """run.main without trials: every trial takes 1 s and the others use ``others`` cores."""

    def trial(args, env, timeout):
        if args[0] == "info":
            return {
                "cpus": 2,
                "cpu": "test",
                "platform": "test",
                "python": "3",
                "numpy": "2",
                "scipy": "1",
                "sklearn": "1",
                "torch": "2.13.0",
                "chainrule": "0",
                "torch_threads": 2,
                "torch_blas": "x",
                "threadpools": [],
            }
        if args[0] == "gemm":
            return {"gflops": 100.0, "seconds": 1.0, "peak_rss_mib": 10}
        impl = args[args.index("--impl") + 1]
        return {
            "seconds": 1.0 if impl == "chainrule" else 2.0,
            "cpu_seconds": 1.0,
            "steps": 100,
            "peak_rss_mib": 10,
            "load_before": 0.1,
        }

    class Meter:
        def start(self):
            pass

        def stop(self):
            return {"others_load": others, "load1_before": 0.1, "wall": 1.0}

    monkeypatch.setattr(run, "run_trial", trial)
    monkeypatch.setattr(run, "available_implementations", lambda wanted, env: (wanted, {}))
    monkeypatch.setattr(run, "LoadMeter", Meter)


ARGS = ["--rounds", "2", "--workloads", "W2,W3", "--dtype", "float32", "--impls", "chainrule,torch"]


def test_a_busy_run_does_not_overwrite_the_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "performance.md"
    out.write_text("# hand-written\n")
    _fake_run(monkeypatch, others=1.5)  # 0.75 cores per core
    assert run.main([*ARGS, "--output", str(out)]) == 3
    assert out.read_text() == "# hand-written\n"  # untouched
    err = capsys.readouterr().err
    assert "not writing" in err and "0.75 cores per core" in err and "--allow-busy" in err


def test_a_busy_run_is_written_marked_with_allow_busy(tmp_path, monkeypatch, capsys):
    out = tmp_path / "performance.md"
    _fake_run(monkeypatch, others=1.5)
    assert run.main([*ARGS, "--output", str(out), "--allow-busy"]) == 0
    text = out.read_text()
    assert "BUSY MACHINE" in text and "a BUSY machine (not for the README)" in text


def test_a_quiet_run_writes_the_report_and_the_readme_sentence(tmp_path, monkeypatch, capsys):
    out = tmp_path / "performance.md"
    _fake_run(monkeypatch, others=0.4)  # 0.2 per core
    assert run.main([*ARGS, "--output", str(out)]) == 0
    text = out.read_text()
    assert "BUSY" not in text and "0.20 per core" in text
    sentence = (
        "an MNIST-sized [784, 100, 10] network trains in 0.50× its time, "
        "[784, 1024, 1024, 10] trains in 0.50× its time"
    )
    assert sentence in text and "a quiet machine" in text
    assert sentence in capsys.readouterr().err
