"""Shared, session-scoped fixtures: small generated jet samples.

Generation runs once per test session. Set ``JETAD_TEST_CACHE`` to a folder to
reuse the samples across sessions (they are keyed by kind, size and seed).
"""

import os

import numpy as np
import pytest

# The networks in the tests are small: one intra-op thread is faster than two on a
# 2-core machine, where OpenMP threads otherwise contend with the generation workers.
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a core dependency
    pass

N_QCD = 4000
N_TOP = 2000


def _generated(kind, n_jets, seed, tmp_path_factory):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import fetch_generated

    cache = os.environ.get("JETAD_TEST_CACHE") or str(tmp_path_factory.getbasetemp())
    X, _ = fetch_generated(kind, n_jets, random_state=seed, cache_dir=cache, n_jobs=2)
    return X


@pytest.fixture(scope="session")
def qcd_jets(tmp_path_factory):
    """4000 QCD jets, 550-650 GeV, detector level, (n, 200, 4) float32 (E, px, py, pz)."""
    return _generated("qcd", N_QCD, 1, tmp_path_factory)


@pytest.fixture(scope="session")
def top_jets(tmp_path_factory):
    """2000 top jets, 550-650 GeV, detector level."""
    return _generated("top", N_TOP, 2, tmp_path_factory)


@pytest.fixture(scope="session")
def top_qcd_images(qcd_jets, top_jets):
    """40x40 JetImager images: dict with 'qcd' and 'top' arrays of shape (n, 1600)."""
    from jetad import JetImager

    imager = JetImager()
    return {"qcd": imager.transform(qcd_jets), "top": imager.transform(top_jets)}


@pytest.fixture
def rng():
    return np.random.default_rng(0)
