"""How busy the machine was while a benchmark ran: the CPU that *other* processes used.

A benchmark on a shared machine measures the machine's other work as well as its own.
The 1-minute load average cannot tell the two apart (a trial that keeps 2 threads
busy raises it by about 2 by itself), so each trial is bracketed instead: the CPU
time of the whole machine (Linux's ``/proc/stat``) minus the CPU time of the trial's
own process tree (``getrusage(RUSAGE_CHILDREN)``), divided by the trial's wall time,
is the number of cores the rest of the machine kept busy meanwhile — a load average
of everyone else.  Elsewhere the 1-minute load average before the trial stands in
(an overestimate: it includes the previous trials).

``benchmarks/run.py`` refuses to write ``docs/performance.md`` from a run whose
others' load exceeded :data:`MAX_LOAD_PER_CORE` per core (or, with ``--allow-busy``,
writes it marked as taken on a busy machine).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

__all__ = ["MAX_LOAD_PER_CORE", "LoadMeter", "machine_cpu_seconds", "summarise"]

#: The most the other processes may load the machine, in cores per core, for a
#: run to count as quiet (issue 25).
MAX_LOAD_PER_CORE = 0.5

_STAT = Path("/proc/stat")


def machine_cpu_seconds(stat: Path = _STAT) -> float | None:
    """CPU seconds all processes have used since boot (not idle, not I/O wait), or None.

    Reads the aggregate ``cpu`` line of ``/proc/stat``: user, nice, system, irq,
    softirq and steal jiffies.
    """
    try:
        with stat.open(encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (user + nice + system + irq + softirq + steal) / ticks


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMeter:
    """Brackets one trial: ``start()`` before it, ``stop()`` after it has been waited for."""

    def __init__(self, stat: Path = _STAT) -> None:
        self.stat = stat
        self._start: tuple[float, float | None, float, float] | None = None

    def start(self) -> None:
        self._start = (
            time.perf_counter(),
            machine_cpu_seconds(self.stat),
            _own_cpu_seconds(),
            os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        )

    def stop(self) -> dict[str, Any]:
        """``others_load`` (cores the other processes used; None without /proc/stat),
        ``load1_before`` (the 1-minute load average at the start) and ``wall``."""
        assert self._start is not None, "stop() before start()"
        t0, machine0, own0, load1 = self._start
        wall = time.perf_counter() - t0
        machine1 = machine_cpu_seconds(self.stat)
        others = None
        if machine0 is not None and machine1 is not None and wall > 0:
            others = max(0.0, (machine1 - machine0 - (_own_cpu_seconds() - own0)) / wall)
        return {"others_load": others, "load1_before": load1, "wall": wall}


def summarise(
    samples: list[dict[str, Any]], cpus: int, limit: float = MAX_LOAD_PER_CORE
) -> dict[str, Any]:
    """The run's load: mean and max over the trials, per core, and whether it was quiet.

    ``measure`` names what was measured: ``others`` (the other processes' CPU) or,
    where that is unavailable, ``load1`` (the 1-minute load average, ours included).
    A run is quiet when the mean per core is at most ``limit``.
    """
    others = [s["others_load"] for s in samples if s.get("others_load") is not None]
    measure, values = "others", others
    if not others:
        measure = "load1"
        values = [
            s["load1_before"]
            for s in samples
            if s.get("load1_before") is not None and s["load1_before"] == s["load1_before"]
        ]
    if not values:
        return {
            "measure": "none",
            "mean": None,
            "max": None,
            "per_core": None,
            "max_per_core": None,
            "cpus": cpus,
            "limit": limit,
            "quiet": False,
        }
    mean = statistics.fmean(values)
    return {
        "measure": measure,
        "mean": mean,
        "max": max(values),
        "per_core": mean / cpus,
        "max_per_core": max(values) / cpus,
        "cpus": cpus,
        "limit": limit,
        "quiet": mean / cpus <= limit,
    }
