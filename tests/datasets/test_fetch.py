"""The cached-sample loader jetad.datasets.fetch_generated."""

import numpy as np
import pytest


def test_fetch_generated_caches_and_keys(tmp_path, monkeypatch):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import _generate, fetch_generated

    X, info = fetch_generated("qcd", 12, random_state=3, cache_dir=tmp_path)
    assert X.shape[0] == 12 and info["path"].startswith(str(tmp_path))
    calls = []
    original = _generate.generate_jets

    def counting(*args, **kwargs):
        calls.append(kwargs.get("output"))
        return original(*args, **kwargs)

    monkeypatch.setattr(_generate, "generate_jets", counting)
    X_again, info_again = fetch_generated("qcd", 12, random_state=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(X, X_again)
    assert info_again["path"] == info["path"]
    assert calls == []  # read from the cache, not generated again
    # a smaller request may reuse the larger file only when asked to
    X_small, info_small = fetch_generated("qcd", 5, random_state=3, cache_dir=tmp_path,
                                          reuse_larger=True)
    np.testing.assert_array_equal(X_small, X[:5])
    assert info_small["path"] == info["path"]
    # other seeds and card overrides are other files
    _, info_seed = fetch_generated("qcd", 5, random_state=4, cache_dir=tmp_path)
    _, info_card = fetch_generated("qcd", 5, random_state=3, cache_dir=tmp_path, jet_r=0.6)
    assert len({info["path"], info_seed["path"], info_card["path"]}) == 3
    assert len(calls) == 2


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_fetch_generated_refuses_bad_sizes(bad, tmp_path):
    from jetad.datasets import fetch_generated

    with pytest.raises(ValueError, match="n_jets"):
        fetch_generated("qcd", bad, cache_dir=tmp_path)


def test_fetch_generated_refuses_a_cached_file_of_another_card(tmp_path):
    # a kind whose card changed between releases must not silently reuse the old jets
    from jetad.datasets import fetch_generated, load_jets, save_jets

    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 3, 3)).astype(np.float32)
    X = np.concatenate([np.linalg.norm(p, axis=2, keepdims=True) + 1.0, p], axis=2)
    path = tmp_path / "aachen_4_seed0_detector.h5"
    save_jets(path, X, info={"card": {"kind": "aachen", "mzprime": 1.0}})
    assert load_jets(path)[0].shape == (4, 3, 4)
    with pytest.raises(ValueError, match="another 'aachen' card.*mzprime"):
        fetch_generated("aachen", 4, random_state=0, cache_dir=tmp_path)
