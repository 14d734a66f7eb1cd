"""The synthetic jets the preprocessing and core benchmarks time (no side effects)."""

import numpy as np


def synthetic_constituents(n_jets, seed=0):
    """Synthetic jets: 60 constituents, pT ~ exponential(10 GeV), (eta, phi) ~ N(0, 0.2).

    Zero-padded to 200 constituents, float32 ``(E, px, py, pz)``; shared by
    ``bench_preprocessing.py`` and ``bench_core.py`` so both time the same jets.
    """
    from jetad.jets import p4s_from_ptetaphi

    rng = np.random.default_rng(seed)
    k = 60
    X = np.zeros((n_jets, 200, 4), dtype=np.float32)
    ptetaphi = np.stack([rng.exponential(10.0, (n_jets, k)), rng.normal(0, 0.2, (n_jets, k)),
                         rng.normal(0, 0.2, (n_jets, k))], axis=-1)
    ptetaphi[..., 0] = -np.sort(-ptetaphi[..., 0], axis=1)
    X[:, :k] = p4s_from_ptetaphi(ptetaphi)
    return X
