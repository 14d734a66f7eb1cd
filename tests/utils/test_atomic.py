"""Tests of the atomic writes in jetad.utils (atomic_path, atomic_json, atomic_npz)."""

import json
import os

import numpy as np
import pytest

from jetad.utils import atomic_json, atomic_npz, atomic_path


def test_atomic_path_moves_into_place_and_creates_the_folder(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path / "sub")
        assert not target.exists()
        with open(tmp, "w") as fh:
            fh.write("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path / "sub") == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_keeps_the_old_file_on_failure(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise error("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind


def test_atomic_path_is_the_one_the_datasets_use():
    from jetad.datasets import _io

    assert _io.atomic_path is atomic_path


def test_atomic_json_converts_numpy_and_keeps_the_file_on_bad_values(tmp_path):
    target = tmp_path / "r.json"
    atomic_json(target, {"a": np.float32(0.5), "b": np.arange(3), "c": np.int64(4)})
    assert json.loads(target.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": 4}
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        atomic_json(target, {"bad": object()})
    assert json.loads(target.read_text())["c"] == 4
    assert os.listdir(tmp_path) == ["r.json"]


def test_atomic_npz_round_trip(tmp_path):
    target = tmp_path / "scores.npz"
    atomic_npz(target, {"x": np.arange(4, dtype=np.float32), "y": np.ones(2, np.int8)})
    with np.load(target) as f:
        assert f["x"].dtype == np.float32 and np.array_equal(f["x"], np.arange(4))
        assert f["y"].tolist() == [1, 1]
    with pytest.raises(TypeError, match="mapping"):
        atomic_npz(target, [np.zeros(2)])
    assert os.listdir(tmp_path) == ["scores.npz"]
