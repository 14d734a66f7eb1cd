"""One cached-sample loader: generate N jets of a kind once, then read them back."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import glob
import hashlib
import json
import os
import re

from ..utils import get_cache_dir

__all__ = ["fetch_generated"]


def _overrides_tag(card_overrides):
    if not card_overrides:
        return ""
    text = json.dumps(card_overrides, sort_keys=True, default=str)
    return "_" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _check_card(path, kind, info, card_overrides):
    """Refuse a cached file whose stored card is not the one requested (e.g. a changed kind)."""
    from ._cards import resolve_card
    from ._generate import _diff

    requested = json.loads(json.dumps(resolve_card(kind, card_overrides or None), default=str))
    stored = info.get("card")
    if stored is not None and stored != requested:
        raise ValueError(
            f"the cached file {path} was generated with another {kind!r} card "
            f"({_diff(stored, requested)}); delete it or pass another cache_dir")


def fetch_generated(kind, n_jets, *, random_state=0, cache_dir=None, level="detector",
                    n_jobs=1, progress=False, prefix="", reuse_larger=False,
                    **card_overrides):
    """Generated jets of one kind, simulated once and cached on disk.

    In the spirit of scikit-learn's ``fetch_*`` loaders: the first call
    simulates the sample with :func:`generate_jets` into the cache folder
    (:func:`jetad.utils.get_cache_dir`: ``cache_dir``, ``$JETAD_CACHE`` or
    ``~/.cache/jetad``); later calls read the file. An interrupted generation
    resumes.

    Parameters
    ----------
    kind : str
        One of :data:`jetad.datasets.KINDS`.
    n_jets : int
        Number of jets returned.
    random_state : int, default=0
        Generation seed (part of the cache key).
    cache_dir : str or path-like, optional
        Cache folder; see :func:`jetad.utils.get_cache_dir`.
    level : {"detector", "particle"}, default="detector"
    n_jobs : int, default=1
        Generation workers (does not change the jets).
    progress : bool, default=False
    prefix : str, default=""
        Prepended to the file name (to keep one caller's files apart).
    reuse_larger : bool, default=False
        Also accept a cached file of the same kind, seed, level and card with
        more jets and return its first ``n_jets``. These are *not* the jets a
        fresh ``n_jets`` run gives (the event seeds depend on the chunking), so
        the result then depends on what the cache holds; ``info["path"]``
        says which file was read.
    **card_overrides
        Passed to :func:`generate_jets`; part of the cache key.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
    info : dict
        The file's provenance (:func:`load_jets`) plus ``"path"``, the file read.

    Examples
    --------
    >>> from jetad.datasets import fetch_generated
    >>> X, info = fetch_generated("qcd", 1000, random_state=1)  # doctest: +SKIP
    """
    from ._generate import generate_jets
    from ._io import load_jets

    if not isinstance(random_state, int) or isinstance(random_state, bool):
        raise TypeError(f"random_state must be an int (the cache key), got {random_state!r}")
    if not isinstance(n_jets, int) or isinstance(n_jets, bool) or n_jets < 1:
        raise ValueError(f"n_jets must be an integer >= 1, got {n_jets!r}")
    folder = get_cache_dir(cache_dir)
    stem = f"{prefix}{kind}_{{}}_seed{random_state}_{level}{_overrides_tag(card_overrides)}.h5"
    pattern = re.compile(re.escape(stem).replace(r"\{\}", r"(\d+)") + "$")
    larger = []
    candidates = glob.glob(os.path.join(glob.escape(folder), stem.format("*")))
    for path in candidates if reuse_larger else []:
        match = pattern.search(os.path.basename(path))
        if match and int(match.group(1)) >= n_jets:
            larger.append((int(match.group(1)), path))
    path = min(larger)[1] if larger else os.path.join(folder, stem.format(n_jets))
    try:
        X, info = load_jets(path)
    except (FileNotFoundError, ValueError):  # not there yet, or an interrupted generation
        generate_jets(kind, n_jets, random_state=random_state, n_jobs=n_jobs, level=level,
                      output=path, progress=progress, **card_overrides)
        X, info = load_jets(path)
    if X.shape[0] < n_jets:
        raise ValueError(f"{path} holds {X.shape[0]} {kind} jets, {n_jets} were asked for")
    _check_card(path, kind, info, card_overrides)
    info = dict(info, path=path)
    return X[:n_jets], info
