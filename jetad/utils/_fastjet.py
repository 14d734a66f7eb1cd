"""FastJet (scikit-hep ``fastjet``): lazy import, banner silencing, batch clustering."""

import contextlib
import os
import sys

import numpy as np

from ._optional import import_optional

__all__ = ["c_stdout_silenced", "cluster_events", "import_fastjet"]

_FASTJET = None


@contextlib.contextmanager
def c_stdout_silenced():
    """Redirect the C-level stdout (file descriptor 1) to /dev/null for the block.

    FastJet and Pythia print from C++, which ``contextlib.redirect_stdout``
    does not catch.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (e.g. some notebooks)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def import_fastjet():
    """Import scikit-hep ``fastjet`` lazily, with its banner silenced.

    Returns
    -------
    fastjet : module

    Raises
    ------
    ImportError
        If ``fastjet`` is not installed (naming the jetad extra that installs it).
    """
    global _FASTJET
    if _FASTJET is None:
        with c_stdout_silenced():
            fastjet = import_optional("fastjet")
            try:  # the banner is printed once per process, on first use
                fastjet._swig.ClusterSequence.print_banner()
            except AttributeError:  # pragma: no cover - other fastjet builds
                pass
        _FASTJET = fastjet
    return _FASTJET


def cluster_events(p4, counts, algorithm, radius):
    """Cluster a batch of events with FastJet's multi-event interface.

    Parameters
    ----------
    p4 : ndarray of shape (counts.sum(), 4)
        ``(E, px, py, pz)`` of the particles, event after event.
    counts : ndarray of int, shape (n_events,)
        Particles per event.
    algorithm : {"antikt", "cambridge", "kt"}
        Clustering algorithm (E-scheme recombination).
    radius : float
        Jet radius ``R``.

    Returns
    -------
    cluster_sequence : fastjet.ClusterSequence
        The awkward-array cluster sequence of all events.
    """
    fastjet = import_fastjet()
    ak = import_optional("awkward")
    energy, px, py, pz = (np.ascontiguousarray(p4[:, i]) for i in range(4))
    events = ak.unflatten(
        ak.zip({"px": px, "py": py, "pz": pz, "E": energy}, with_name="Momentum4D"), counts
    )
    jet_def = fastjet.JetDefinition(getattr(fastjet, f"{algorithm}_algorithm"), radius)
    with c_stdout_silenced():
        return fastjet.ClusterSequence(events, jet_def)
