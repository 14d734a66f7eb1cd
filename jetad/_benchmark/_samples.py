"""The suite's jets: generated once per (kind, size, seed) by :func:`fetch_generated`, imaged."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import os

from ..utils._progress import write_line
from ._config import KIND_OFFSET

__all__ = ["SampleCache"]

#: File-name prefix of the suite's samples in the cache folder.
PREFIX = "suite_"


def generation_seed(data_seed, kind):
    """Seed of the generated ``kind`` sample: ``100 * data_seed + KIND_OFFSET[kind]``."""
    return 100 * int(data_seed) + KIND_OFFSET[kind]


def portable_path(path, cache_dir=None):
    """``path`` as results files record it: no absolute path of this machine.

    Under the jetad cache folder it reads ``$JETAD_CACHE/<name>``; elsewhere it
    is relative to the working directory when it lies below it, else its file name.
    """
    from jetad.utils import get_cache_dir

    path = os.path.abspath(os.fspath(path))
    cache = os.path.abspath(os.fspath(get_cache_dir(cache_dir)))
    if os.path.commonpath([path, cache]) == cache:
        return "$JETAD_CACHE/" + os.path.relpath(path, cache).replace(os.sep, "/")
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else os.path.basename(path)


class SampleCache:
    """Constituents and images of the suite's jets, loaded when first asked for.

    Samples come from ``cfg["data_files"]`` (the first jets of the file) or
    from :func:`jetad.datasets.fetch_generated` with the generation seed
    :func:`generation_seed` under ``cfg["data_dir"]``; the sample of a kind is
    then fixed by the configuration (kind, number of jets, ``data_seed``).
    Images are kept for one pT power at a time.

    Parameters
    ----------
    cfg : dict
        A resolved suite configuration.

    Attributes
    ----------
    files : dict of str to dict
        Jet kind -> ``{"path", "generation_seed", "n_jets_used"}`` of the
        samples loaded so far (``path`` from :func:`portable_path`).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.files = {}
        self._jets = {}
        self._images = {}

    def jets(self, kind, n_jets):
        """The first ``n_jets`` constituent arrays of ``kind``."""
        key = (kind, n_jets)
        if key not in self._jets:
            self._jets[key], self.files[kind] = self._read(kind, n_jets)
        return self._jets[key]

    def _read(self, kind, n_jets):
        from jetad.datasets import fetch_generated, load_jets

        if kind in self.cfg["data_files"]:
            path, seed = os.fspath(self.cfg["data_files"][kind]), None
            X, _ = load_jets(path)
            if X.shape[0] < n_jets:
                raise ValueError(f"{path} holds {X.shape[0]} {kind} jets, {n_jets} are needed")
            X = X[:n_jets]
        else:
            seed = generation_seed(self.cfg["data_seed"], kind)
            write_line(f"[jetad benchmark] sample: {n_jets} {kind} jets, generation seed {seed}")
            X, info = fetch_generated(kind, n_jets, random_state=seed,
                                      cache_dir=self.cfg["data_dir"], n_jobs=self.cfg["n_jobs"],
                                      prefix=PREFIX)
            path = info["path"]
        return X, {"path": portable_path(path, self.cfg["data_dir"]), "generation_seed": seed,
                   "n_jets_used": n_jets}

    def images(self, kind, n_jets, pt_power=None):
        """:class:`jetad.JetImager` images of :meth:`jets` with the configured imager."""
        from jetad import JetImager

        key = (kind, n_jets, pt_power)
        if key not in self._images:
            self._images = {k: v for k, v in self._images.items() if k[2] == pt_power}
            imager = JetImager(**self.cfg["imager"], pt_power=pt_power)
            self._images[key] = imager.transform(self.jets(kind, n_jets))
        return self._images[key]

    def provenance(self, kinds):
        """:attr:`files` of ``kinds`` (those loaded so far)."""
        return {k: self.files[k] for k in kinds if k in self.files}
