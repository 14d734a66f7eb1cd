"""Torch thread count of the command line: no more threads than idle cores."""

import os
import time

__all__ = ["busy_cores", "configure_threads"]


def _cpu_times():
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]), idle


def busy_cores(interval=0.3):
    """Cores kept busy by other processes, measured over ``interval`` seconds.

    Parameters
    ----------
    interval : float, default=0.3
        Sampling window of ``/proc/stat``; where that file does not exist, the
        one-minute load average is used instead.

    Returns
    -------
    busy : float
        Number of busy cores (0 on an idle machine).
    """
    n_cores = os.cpu_count() or 1
    try:
        total0, idle0 = _cpu_times()
        time.sleep(interval)
        total1, idle1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float(min(os.getloadavg()[0], n_cores)) if hasattr(os, "getloadavg") else 0.0
    elapsed = max(total1 - total0, 1)
    return n_cores * (1.0 - (idle1 - idle0) / elapsed)


def configure_threads(threads="auto"):
    """Set the torch thread count of this process before any work starts.

    Two processes that both run as many OpenMP threads as there are cores
    oversubscribe them, and spinning threads then wait on each other: a
    2-core ``jetad demo`` beside another CPU-bound process ran 4x slower.
    ``"auto"`` therefore uses the idle cores only (at least one) and, unless
    the environment says otherwise, lets idle OpenMP threads sleep
    (``OMP_WAIT_POLICY=PASSIVE``, read when torch is first imported).

    Parameters
    ----------
    threads : int or "auto", default="auto"
        Torch intra-op threads; with ``"auto"`` an ``OMP_NUM_THREADS`` set in
        the environment is honoured as it is.

    Returns
    -------
    n_threads : int
        The thread count torch uses from now on.
    """
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int)
                              or threads < 1):
        raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}")
    if threads == "auto":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if threads == "auto":
        if os.environ.get("OMP_NUM_THREADS"):
            return torch.get_num_threads()
        n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        threads = max(1, min(n_cores, int(round(n_cores - busy_cores()))))
    torch.set_num_threads(threads)
    return threads
