"""jetad.save_model / jetad.load_model: round trips without pickle, refusal of bad files."""

import collections
import io
import json
import os
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import torch
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from sklearn.base import clone
from sklearn.pipeline import Pipeline

import jetad
from jetad import (
    AEDetector,
    DVAEDetector,
    GMVAEDetector,
    JetImager,
    LundPlane,
    NAEDetector,
    VAEDetector,
    load_model,
    save_model,
)
from jetad.jets import p4s_from_ptetaphi
from jetad.model_selection import BackgroundOnly

FAST = dict(max_epochs=2, batch_size=64, device="cpu", random_state=0)
DETECTORS = [
    AEDetector(**FAST),
    AEDetector(latent_sphere=True, spectral_norm=True, **FAST),
    VAEDetector(score_type="latent", **FAST),
    GMVAEDetector(n_components=2, **FAST),
    DVAEDetector(**FAST),
    NAEDetector(max_epochs=1, nae_iterations=2, check_interval=1, keep_checkpoints=True,
                batch_size=64, device="cpu", random_state=0),
]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return (rng.random((128, 1600)) / 800).astype(np.float32)


@pytest.fixture(scope="module")
def jets():
    """(n, 20, 4) E, px, py, pz constituents of narrow random jets."""
    rng = np.random.default_rng(1)
    n, m = 48, 20
    pt = np.sort(rng.exponential(30.0, (n, m)), axis=1)[:, ::-1] + 0.5
    eta = rng.normal(0, 0.15, (n, m))
    phi = rng.normal(0, 0.15, (n, m))
    return p4s_from_ptetaphi(np.stack([pt, eta, phi], axis=-1))


@pytest.fixture(scope="module")
def ae_file(images, tmp_path_factory):
    det = AEDetector(**FAST).fit(images)
    path = save_model(det, tmp_path_factory.mktemp("model") / "ae.jetad")
    return det, path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tampered(src, dst, *, doc=None, arrays=None, extra=None):
    """Copy of the model file ``src`` with model.json / tensors edited by callbacks."""
    members = _members(src)
    parsed = json.loads(members["model.json"])
    tensors = dict(load_tensors(members["tensors.safetensors"]))
    if doc is not None:
        doc(parsed)
    if arrays is not None:
        arrays(parsed, tensors)
    members["model.json"] = json.dumps(parsed).encode()
    members["tensors.safetensors"] = save_tensors(tensors)
    members.update(extra or {})
    return _write(dst, members)


def _first_weight(doc):
    return next(k for k, v in doc["tensors"].items() if v["path"].endswith("weight']")
                and len(v["shape"]) > 1)


# ----------------------------------------------------------------- round trips
@pytest.mark.parametrize("det", DETECTORS, ids=lambda d: type(d).__name__)
def test_every_detector_round_trips_with_identical_scores(det, images, tmp_path):
    det = clone(det).fit(images)
    path = save_model(det, tmp_path / "det.jetad")
    assert sorted(_members(path)) == ["model.json", "tensors.safetensors"]
    loaded = load_model(path)
    assert type(loaded) is type(det)
    assert loaded.get_params() == det.get_params()
    assert sorted(vars(loaded)) == sorted(vars(det))
    np.testing.assert_array_equal(loaded.score_samples(images), det.score_samples(images))
    np.testing.assert_array_equal(loaded.predict(images), det.predict(images))
    np.testing.assert_array_equal(loaded.encode(images), det.encode(images))
    assert loaded.offset_ == det.offset_
    np.testing.assert_array_equal(loaded.train_scores_, det.train_scores_)
    assert len(loaded.net_.history) == len(det.net_.history)


def test_nae_fitted_state_survives(images, tmp_path):
    det = clone(DETECTORS[-1]).fit(images)
    loaded = load_model(save_model(det, tmp_path / "nae.jetad"))
    np.testing.assert_array_equal(loaded.score_samples_pretrained(images),
                                  det.score_samples_pretrained(images))
    np.testing.assert_array_equal(loaded.sample(4, random_state=0), det.sample(4, random_state=0))
    assert loaded.history_ == det.history_
    assert loaded.best_iteration_ == det.best_iteration_
    last = det.checkpoints_[-1]["iteration"]
    np.testing.assert_array_equal(loaded.load_checkpoint(last).score_samples(images),
                                  det.load_checkpoint(last).score_samples(images))


def test_scoring_parameters_stay_switchable(images, tmp_path):
    det = VAEDetector(**FAST).fit(images)
    loaded = load_model(save_model(det, tmp_path / "vae.jetad"))
    for score_type in ("latent", "reconstruction"):
        det.set_params(score_type=score_type)
        loaded.set_params(score_type=score_type)
        np.testing.assert_array_equal(loaded.score_samples(images), det.score_samples(images))


def test_transformers_round_trip(jets, tmp_path):
    imager = JetImager(n_pixels=20, gaussian_sigma=0.5, pixel_size=(0.03, 0.03),
                       output_shape="image").fit(jets)
    loaded = load_model(save_model(imager, tmp_path / "imager.jetad"))
    assert loaded.get_params() == imager.get_params()
    np.testing.assert_array_equal(loaded.transform(jets), imager.transform(jets))


def test_lund_plane_round_trips(jets, tmp_path):
    pytest.importorskip("fastjet")
    lund = LundPlane(planes=2, weight="z", n_bins=10).fit(jets)
    loaded = load_model(save_model(lund, tmp_path / "lund.jetad"))
    assert loaded.get_params() == lund.get_params()
    np.testing.assert_array_equal(loaded.transform(jets), lund.transform(jets))


def test_pipeline_round_trips(jets, tmp_path):
    pipe = Pipeline([("image", JetImager(n_pixels=16)),
                     ("detect", AEDetector(**FAST))]).fit(jets)
    loaded = load_model(save_model(pipe, tmp_path / "pipe.jetad"))
    assert isinstance(loaded, Pipeline)
    assert [name for name, _ in loaded.steps] == ["image", "detect"]
    np.testing.assert_array_equal(loaded.score_samples(jets), pipe.score_samples(jets))


def test_background_only_round_trips(images, tmp_path):
    y = np.r_[np.zeros(100, int), np.ones(28, int)]
    est = BackgroundOnly(DVAEDetector(**FAST), background_label=0).fit(images, y)
    loaded = load_model(save_model(est, tmp_path / "bo.jetad"))
    assert not hasattr(loaded.detector, "net_")
    assert loaded.n_background_ == 100
    np.testing.assert_array_equal(loaded.score_samples(images), est.score_samples(images))
    assert loaded.offset_ == est.offset_


def test_unfitted_estimator_round_trips_its_parameters(tmp_path):
    det = NAEDetector(latent_dim=4, x_bounds=(0.0, 2.0), random_state=np.random.RandomState(3),
                      energy_scale=2.5, verbose=True)
    loaded = load_model(save_model(det, tmp_path / "nae.jetad"))
    assert not hasattr(loaded, "net_")
    params = loaded.get_params()
    rs = params.pop("random_state")
    expected = det.get_params()
    assert rs.randint(1 << 30) == expected.pop("random_state").randint(1 << 30)
    assert params == expected
    assert loaded.x_bounds == (0.0, 2.0)


def test_feature_names_and_numpy_values_round_trip(images, tmp_path):
    det = AEDetector(**FAST).fit(images)
    det.feature_names_in_ = np.asarray([f"p{i}" for i in range(images.shape[1])], dtype=object)
    det.extra_ = {1: np.float32(0.5), "nan": float("nan"), "dtype": np.dtype("int16"),
                  "@": (1, "a", None), "f64": np.float64(2.5), "type": np.uint8}
    loaded = load_model(save_model(det, tmp_path / "ae.jetad"))
    np.testing.assert_array_equal(loaded.feature_names_in_, det.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    assert loaded.extra_[1] == np.float32(0.5) and loaded.extra_[1].dtype == np.float32
    assert np.isnan(loaded.extra_["nan"])
    assert loaded.extra_["dtype"] == np.dtype("int16") and loaded.extra_["@"] == (1, "a", None)
    assert type(loaded.extra_["f64"]) is np.float64 and loaded.extra_["type"] is np.uint8


def test_values_that_would_change_type_are_refused(images, tmp_path):
    det = AEDetector(**FAST).fit(images)
    det.mask_ = np.ma.masked_array([1.0, 2.0], mask=[True, False])
    with pytest.raises(TypeError, match="MaskedArray"):
        save_model(det, tmp_path / "masked.jetad")
    del det.mask_
    det.pair_ = collections.namedtuple("Pair", "a b")(1, 2)
    with pytest.raises(TypeError, match="Pair"):
        save_model(det, tmp_path / "pair.jetad")


def test_load_leaves_the_global_torch_rng_alone(ae_file):
    torch.manual_seed(5)
    before = torch.get_rng_state()
    load_model(ae_file[1])
    assert torch.equal(torch.get_rng_state(), before)


def test_exported_at_top_level():
    assert "save_model" in jetad.__all__ and "load_model" in jetad.__all__
    assert jetad.save_model is save_model


# --------------------------------------------------------------- save refusals
def test_save_refuses_what_is_not_data(images, tmp_path):
    from skorch.callbacks import EpochTimer

    with pytest.raises(TypeError, match="callbacks"):
        save_model(AEDetector(callbacks=[EpochTimer()]), tmp_path / "cb.jetad")
    with pytest.raises(TypeError, match="scikit-learn estimator"):
        save_model({"not": "an estimator"}, tmp_path / "dict.jetad")

    class MyDetector(AEDetector):
        pass

    with pytest.raises(TypeError, match="cannot be stored"):
        save_model(MyDetector(), tmp_path / "mine.jetad")
    assert not os.listdir(tmp_path)


def test_save_refuses_nan_weights(images, tmp_path):
    det = AEDetector(**FAST).fit(images)
    with torch.no_grad():
        next(det.net_.module_.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        save_model(det, tmp_path / "nan.jetad")
    assert not (tmp_path / "nan.jetad").exists()


# --------------------------------------------------------------- load refusals
@pytest.mark.parametrize("path", ["os.system", "builtins.eval", "subprocess.Popen",
                                  "jetad.detectors._base.BaseEstimator",
                                  "jetad.detectors._base._resolve_device",
                                  "jetad.detectors._base.NeuralNet",
                                  "jetad.detectors.BaseNeuralDetector",
                                  "jetad.os.system", "jetad.__main__.main",
                                  "jetad.cli.__builtins__", "sklearn.utils.Bunch", "os"])
def test_class_paths_outside_the_allowlist_are_refused(path, ae_file, tmp_path):
    marker = tmp_path / "pwned"

    def craft(doc):
        doc["estimator"] = {"@": "estimator", "class": path,
                            "params": {"command": f"touch {marker}"}, "attributes": {}}
        doc["tensors"] = {}

    def no_arrays(doc, tensors):
        tensors.clear()

    bad = _tampered(ae_file[1], tmp_path / "bad.jetad", doc=craft, arrays=no_arrays)
    with pytest.raises(ValueError, match="class path|not allowed|not a (concrete )?jetad|not exist"):
        load_model(bad)
    assert not marker.exists()


def test_nested_plain_object_outside_jetad_is_refused(ae_file, tmp_path):
    def craft(doc):
        doc["estimator"]["attributes"]["evil_"] = {"@": "object", "class": "os._wrap_close",
                                                   "state": {}}

    with pytest.raises(ValueError, match="not allowed"):
        load_model(_tampered(ae_file[1], tmp_path / "bad.jetad", doc=craft))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payloads_are_never_run(ae_file, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    src = ae_file[1]
    # a pickle or joblib file passed as a model file
    (tmp_path / "model.pkl").write_bytes(payload)
    with pytest.raises(ValueError, match="pickle"):
        load_model(tmp_path / "model.pkl")
    joblib.dump(ae_file[0], tmp_path / "model.joblib")
    with pytest.raises(ValueError, match="not a jetad model file"):
        load_model(tmp_path / "model.joblib")
    # a pickle as an extra member, in place of the tensors, or as a value of model.json
    with pytest.raises(ValueError, match="exactly"):
        load_model(_tampered(src, tmp_path / "a.jetad", extra={"data.pkl": payload}))
    members = _members(src)
    members["tensors.safetensors"] = payload
    with pytest.raises(ValueError, match="safetensors"):
        load_model(_write(tmp_path / "b.jetad", members))

    def embed(doc):
        doc["estimator"]["attributes"]["offset_"] = {"@": "pickle", "v": payload.hex()}

    with pytest.raises(ValueError, match="unknown value type 'pickle'"):
        load_model(_tampered(src, tmp_path / "c.jetad", doc=embed))
    assert not marker.exists()


def test_nan_tensor_is_refused(ae_file, tmp_path):
    def poison(doc, tensors):
        key = _first_weight(doc)
        tensors[key] = tensors[key].copy()
        tensors[key].flat[0] = np.nan

    with pytest.raises(ValueError, match="NaN or infinite"):
        load_model(_tampered(ae_file[1], tmp_path / "nan.jetad", arrays=poison))

    def poison_scores(doc, tensors):
        key = next(k for k, v in doc["tensors"].items() if "train_scores_" in v["path"])
        tensors[key] = np.full_like(tensors[key], np.inf)

    with pytest.raises(ValueError, match="train_scores_ holds NaN or infinite"):
        load_model(_tampered(ae_file[1], tmp_path / "inf.jetad", arrays=poison_scores))


def test_tampered_shapes_and_dtypes_are_refused(ae_file, tmp_path):
    def reshape(doc, tensors):
        key = _first_weight(doc)
        tensors[key] = np.ascontiguousarray(tensors[key][:1])

    with pytest.raises(ValueError, match="shape"):
        load_model(_tampered(ae_file[1], tmp_path / "shape.jetad", arrays=reshape))

    def reshape_both(doc, tensors):
        key = _first_weight(doc)
        tensors[key] = np.ascontiguousarray(tensors[key][:1])
        doc["tensors"][key]["shape"] = list(tensors[key].shape)

    with pytest.raises(ValueError, match="do not fit the network"):
        load_model(_tampered(ae_file[1], tmp_path / "both.jetad", arrays=reshape_both))

    def retype(doc, tensors):
        key = _first_weight(doc)
        tensors[key] = tensors[key].astype(np.float64)

    with pytest.raises(ValueError, match="dtype"):
        load_model(_tampered(ae_file[1], tmp_path / "dtype.jetad", arrays=retype))

    def drop(doc, tensors):
        del tensors[_first_weight(doc)]

    with pytest.raises(ValueError, match="missing"):
        load_model(_tampered(ae_file[1], tmp_path / "drop.jetad", arrays=drop))

    def add(doc, tensors):
        tensors["t_extra"] = np.zeros(3)
        doc["tensors"]["t_extra"] = {"dtype": "float64", "shape": [3], "path": "x"}

    with pytest.raises(ValueError, match="not referenced"):
        load_model(_tampered(ae_file[1], tmp_path / "add.jetad", arrays=add))


def test_wrong_format_version_and_bad_json_are_refused(ae_file, tmp_path):
    def bump(doc):
        doc["format_version"] = 99

    with pytest.raises(ValueError, match="format version 99"):
        load_model(_tampered(ae_file[1], tmp_path / "v99.jetad", doc=bump))
    members = _members(ae_file[1])
    members["model.json"] = members["model.json"].replace(b'"format_version": 1',
                                                          b'"format_version": NaN')
    with pytest.raises(ValueError, match="NaN"):
        load_model(_write(tmp_path / "nanjson.jetad", members))
    members["model.json"] = b"[1, 2"
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(_write(tmp_path / "json.jetad", members))


def test_truncated_and_damaged_files_are_refused(ae_file, tmp_path):
    with open(ae_file[1], "rb") as f:
        data = f.read()
    for n in (0, 10, len(data) // 2, len(data) - 30):
        (tmp_path / "cut.jetad").write_bytes(data[:n])
        with pytest.raises(ValueError, match="not a jetad model file|damaged|truncated"):
            load_model(tmp_path / "cut.jetad")
    # a flipped byte inside the stored tensors fails the zip CRC
    pos = data.index(b"tensors.safetensors") + 200
    (tmp_path / "flip.jetad").write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF])
                                          + data[pos + 1:])
    with pytest.raises(ValueError, match="damaged"):
        load_model(tmp_path / "flip.jetad")


def test_invalid_parameters_and_attributes_are_refused(ae_file, tmp_path):
    def unknown(doc):
        doc["estimator"]["params"]["shell"] = "rm -rf /"

    with pytest.raises(ValueError, match="no parameters"):
        load_model(_tampered(ae_file[1], tmp_path / "p.jetad", doc=unknown))

    def negative(doc):
        doc["estimator"]["params"]["latent_dim"] = -2

    with pytest.raises(ValueError, match="latent_dim"):
        load_model(_tampered(ae_file[1], tmp_path / "n.jetad", doc=negative))

    def shadow(doc):
        doc["estimator"]["attributes"]["score_samples"] = 1

    with pytest.raises(ValueError, match="shadow"):
        load_model(_tampered(ae_file[1], tmp_path / "s.jetad", doc=shadow))

    def dunder(doc):
        doc["estimator"]["attributes"]["__class__"] = "x"

    with pytest.raises(ValueError, match="invalid attribute name"):
        load_model(_tampered(ae_file[1], tmp_path / "d.jetad", doc=dunder))


# ------------------------------------------------------------------- pickle (#12)
def test_pickle_keeps_working_and_warns_on_nan_weights(ae_file, images):
    det = ae_file[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone_ = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(clone_.score_samples(images), det.score_samples(images))
    buf = io.BytesIO()
    joblib.dump(det, buf)
    buf.seek(0)
    np.testing.assert_array_equal(joblib.load(buf).score_samples(images),
                                  det.score_samples(images))
    with torch.no_grad():
        next(clone_.net_.module_.parameters()).fill_(float("nan"))
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        pickle.loads(pickle.dumps(clone_))
