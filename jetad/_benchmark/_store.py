"""The resumable unit store: one result file per (task, setting, method, seed).

A unit is written atomically as soon as it finishes; a rerun reuses a unit
whose file holds the same configuration fingerprint and reruns the others.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import hashlib
import json
import os
import re
import time

import numpy as np

from ..utils import atomic_json, atomic_npz
from ..utils._atomic import _json_default

__all__ = ["RunState", "Unit", "fingerprint", "load_scores", "slug"]


def fingerprint(obj):
    """Short hash of a JSON-serialisable configuration (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def slug(value):
    """``value`` as a file-name fragment."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(value)).strip("_")


def _utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Unit:
    """One (task, setting, method, seed) result: ``<stem>.json`` and its scores ``<stem>.npz``.

    Parameters
    ----------
    output_dir : str
        The suite's output folder; units live in ``output_dir/units/<task>/``.
    task, setting, method : str
    seed : int
    fingerprint : str
        Hash of everything the result depends on (:func:`fingerprint`).
    """

    def __init__(self, output_dir, task, setting, method, seed, fingerprint):
        self.task, self.setting, self.method, self.seed = task, setting, method, seed
        stem = f"{slug(setting)}__{method}__seed{seed}"
        self.folder = os.path.join(output_dir, "units", task)
        self.path = os.path.join(self.folder, stem + ".json")
        self.scores_path = os.path.join(self.folder, stem + ".npz")
        self.fingerprint = fingerprint

    def done(self):
        """The record of an earlier run with the same fingerprint, or None."""
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if data.get("fingerprint") == self.fingerprint else None

    def write(self, result, scores):
        """Write the scores (if any), then the record; return the record."""
        if scores:
            atomic_npz(self.scores_path, scores)
        record = {"task": self.task, "setting": self.setting, "method": self.method,
                  "seed": self.seed, "fingerprint": self.fingerprint,
                  "scores_file": os.path.basename(self.scores_path) if scores else None,
                  "finished_utc": _utc_now(), **result}
        atomic_json(self.path, record)
        return record


def load_scores(output_dir, record):
    """The arrays of a unit's ``.npz`` file (``{}`` if it has none)."""
    if not record.get("scores_file"):
        return {}
    path = os.path.join(output_dir, "units", record["task"], record["scores_file"])
    if not os.path.exists(path):
        return {}
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@dataclasses.dataclass
class RunState:
    """What one invocation of the suite did.

    Attributes
    ----------
    ran : int
        Units computed now.
    reused : int
        Units taken from an earlier run.
    notes : list of str
        Remarks for the report (skipped detectors, missing latent detectors).
    records : dict of str to dict
        Unit file path -> the unit's record, for every unit of this configuration.
    """

    ran: int = 0
    reused: int = 0
    notes: list = dataclasses.field(default_factory=list)
    records: dict = dataclasses.field(default_factory=dict)

    def reuse(self, unit):
        """Record a finished unit of an earlier run; True if it can be skipped."""
        done = unit.done()
        if done is None:
            return False
        if unit.path not in self.records:
            self.reused += 1
        self.records[unit.path] = done
        return True

    def finish(self, unit, result, scores):
        """Write a unit computed now and record it."""
        self.records[unit.path] = unit.write(result, scores)
        self.ran += 1

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def units(self):
        """The records, ordered by file path."""
        return [self.records[k] for k in sorted(self.records)]

    def data_files(self):
        """Sample provenance of the units, the most recently finished last (it wins)."""
        files = {}
        for record in sorted(self.records.values(), key=lambda r: r.get("finished_utc", "")):
            files.update(record.get("data", {}))
        return files
