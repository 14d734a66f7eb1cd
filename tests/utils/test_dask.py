"""Out-of-core scoring on Dask arrays, and model selection on joblib's dask backend."""

import joblib
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from jetad import AEDetector, JetImager
from jetad.metrics import anomaly_auc_scorer
from jetad.model_selection import BackgroundOnly, compare_detectors
from jetad.utils import score_dask, transform_dask

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def pipeline(qcd_jets):
    det = AEDetector(max_epochs=2, random_state=0, device="cpu")
    return make_pipeline(JetImager(), det).fit(qcd_jets[:256])


LOADS = []  # start rows of the blocks _load has read (the cluster runs in-process)


def _load(X, start, chunk):
    LOADS.append(start)
    return X[start:start + chunk]


def _counted_source(X, chunk):
    """A dask array whose blocks record when they are loaded (as if read from disk)."""
    blocks = [da.from_delayed(dask.delayed(_load)(X, start, chunk),
                              shape=X[start:start + chunk].shape, dtype=X.dtype)
              for start in range(0, len(X), chunk)]
    return da.concatenate(blocks, axis=0)


def test_score_pipeline_on_constituents_is_lazy_and_identical(client, pipeline, qcd_jets):
    X = qcd_jets[256:1256]
    LOADS.clear()
    D = _counted_source(X, 300)
    scores = score_dask(pipeline, D)
    assert isinstance(scores, da.Array) and scores.shape == (1000,)
    assert scores.chunks == ((300, 300, 300, 100),) and scores.dtype == np.float64
    assert LOADS == []  # building the graph reads nothing
    got = scores.compute()
    assert sorted(LOADS) == [0, 300, 600, 900]
    np.testing.assert_array_equal(got, -pipeline.score_samples(X))
    np.testing.assert_array_equal(score_dask(pipeline, D, method="predict").compute(),
                                  pipeline.predict(X))
    np.testing.assert_array_equal(
        score_dask(pipeline, D, method="decision_function").compute(),
        pipeline.decision_function(X))


def test_transform_then_score_detector(client, pipeline, qcd_jets):
    X = qcd_jets[:700]
    # chunks across the constituents are merged: blocks hold whole jets
    images = transform_dask(pipeline[0], da.from_array(X, chunks=(250, 50, 2)))
    assert images.shape == (700, 1600) and images.chunks[0] == (250, 250, 200)
    expected = pipeline[0].transform(X)
    np.testing.assert_array_equal(images.compute(), expected)
    det = pipeline[-1]
    np.testing.assert_array_equal(score_dask(det, images).compute(), det.anomaly_score(expected))


def test_score_dask_bad_input():
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.zeros((10, 2)))
    with pytest.raises(TypeError, match="dask"):
        score_dask(forest, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="method"):
        score_dask(forest, da.zeros((10, 2), chunks=5), method="transform")
    with pytest.raises(ValueError, match="no jets"):
        transform_dask(JetImager(), da.zeros((0, 200, 4), chunks=5))


def _toy(n_bkg=160, n_sig=40, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n_bkg, 3)), rng.normal(2.5, 1.0, size=(n_sig, 3))]
    return X, np.r_[np.zeros(n_bkg), np.ones(n_sig)]


def test_grid_search_on_dask_backend(client):
    X, y = _toy()
    search = GridSearchCV(
        BackgroundOnly(IsolationForest(random_state=0)),
        {"detector__n_estimators": [5, 20]}, scoring=anomaly_auc_scorer,
        cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=2,
    )
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    local = GridSearchCV(search.estimator, search.param_grid, scoring=anomaly_auc_scorer,
                         cv=search.cv).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert search.best_score_ > 0.8


def test_compare_detectors_on_dask_backend(client, top_qcd_images):
    X = np.r_[top_qcd_images["qcd"][:160], top_qcd_images["top"][:40]]
    y = np.r_[np.zeros(160), np.ones(40)]
    dets = {"iforest": IsolationForest(n_estimators=10),
            "ae": AEDetector(max_epochs=1, batch_size=64, device="cpu")}
    kw = dict(n_repeats=2, random_state=0, as_frame=False, return_scores=True)
    with joblib.parallel_backend("dask"):
        table, scores = compare_detectors(dets, X, y, n_jobs=2, **kw)
    local_table, local_scores = compare_detectors(dets, X, y, **kw)
    np.testing.assert_array_equal(table["auc_per_fit"], local_table["auc_per_fit"])
    for name in dets:
        for fit, local in zip(scores[name], local_scores[name], strict=True):
            np.testing.assert_array_equal(fit["anomaly_score"], local["anomaly_score"])
