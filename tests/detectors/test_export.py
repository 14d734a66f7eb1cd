"""ONNX export of the neural detectors (``to_onnx``), checked with onnxruntime."""

import os
import sys

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from jetad.detectors import (
    AEDetector,
    DVAEDetector,
    GMVAEDetector,
    LangevinSampler,
    NAEDetector,
    VAEDetector,
)
from jetad.detectors._export import count_multiply_accumulates, energy_module

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

N_TRAIN = 256

_DETECTORS = {
    "ae": lambda: AEDetector(max_epochs=2, random_state=0, device="cpu"),
    "ae_sn_sphere": lambda: AEDetector(max_epochs=2, spectral_norm=True, latent_sphere=True,
                                       random_state=0, device="cpu"),
    "vae": lambda: VAEDetector(max_epochs=2, random_state=0, device="cpu"),
    "gmvae": lambda: GMVAEDetector(max_epochs=2, random_state=0, device="cpu"),
    "dvae": lambda: DVAEDetector(max_epochs=2, random_state=0, device="cpu"),
    "nae": lambda: NAEDetector(max_epochs=2, batch_size=32, nae_iterations=4, nae_batch_size=16,
                               sampler=LangevinSampler(n_z_steps=3, n_x_steps=3),
                               input_scale="auto", random_state=0, device="cpu"),
}

# every deterministic score type of every detector (all of them are deterministic)
_CASES = [("ae", None), ("ae_sn_sphere", None), ("nae", None),
          ("vae", "reconstruction"), ("vae", "latent"),
          ("gmvae", "latent"), ("gmvae", "responsibility"), ("gmvae", "reconstruction"),
          ("dvae", "latent"), ("dvae", "reconstruction"), ("dvae", "topic_ratio")]

# relative tolerances per (detector, score type) where 1e-5 cannot hold; none today
# (the VAE's KL is computed in float64, where float32 cancels for lv ~ 1e-2)
_RTOL = {}


@pytest.fixture(scope="module")
def fitted(top_qcd_images):
    X = top_qcd_images["qcd"][:N_TRAIN]
    return {name: make().fit(X) for name, make in _DETECTORS.items()}


@pytest.fixture(scope="module")
def jets(top_qcd_images):
    """Held-out QCD and top images, float32."""
    return np.r_[top_qcd_images["qcd"][N_TRAIN:2 * N_TRAIN],
                 top_qcd_images["top"][:N_TRAIN]].astype(np.float32)


def _run(path, X):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(["energy"], {"images": np.ascontiguousarray(X, dtype=np.float32)})[0]


@pytest.mark.parametrize(("name", "score_type"), _CASES)
def test_onnx_matches_anomaly_score(fitted, jets, tmp_path, name, score_type):
    det = fitted[name]
    if score_type is not None:
        det.set_params(score_type=score_type)
    expected = det.anomaly_score(jets)
    path = det.to_onnx(tmp_path / "model.onnx")
    assert path == os.fspath(tmp_path / "model.onnx")
    got = _run(path, jets)
    assert got.shape == (jets.shape[0],) and got.dtype == np.float64
    rtol = _RTOL.get((name, score_type), 1e-5)
    # topic_ratio changes sign: relative to the scale of the score near zero
    np.testing.assert_allclose(got, expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max() if score_type == "topic_ratio" else 0)
    # exporting leaves the detector's own module (and its spectral norm) untouched
    np.testing.assert_array_equal(det.anomaly_score(jets), expected)


def test_model_metadata_and_dynamic_batch_axis(fitted, tmp_path):
    det = fitted["gmvae"].set_params(score_type="responsibility")
    model = onnx.load(det.to_onnx(tmp_path / "g.onnx"))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "images" and out.name == "energy"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")
    assert dims[1].dim_value == 1600
    props = {p.key: p.value for p in model.metadata_props}
    assert props["detector"] == "GMVAEDetector" and props["score_type"] == "responsibility"
    assert props["image_shape"] == "40x40"


@pytest.mark.parametrize("name", ["ae_sn_sphere", "nae"])
def test_dynamic_batch_same_per_jet_values(fitted, top_qcd_images, tmp_path, name):
    X = top_qcd_images["qcd"][:1000].astype(np.float32)
    path = fitted[name].to_onnx(tmp_path / "m.onnx")
    big = _run(path, X)
    ones = np.array([_run(path, X[i:i + 1])[0] for i in range(0, 1000, 97)])
    assert big.shape == (1000,)
    np.testing.assert_allclose(ones, big[::97], rtol=1e-6)


def test_spectral_norm_folded_into_plain_weights(fitted):
    det = fitted["nae"]
    wrapper = energy_module(det)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in wrapper.modules())
    assert any(torch.nn.utils.parametrize.is_parametrized(m) for m in det.net_.module_.modules())
    assert not any(p.requires_grad for p in wrapper.parameters())
    X = np.random.default_rng(0).random((4, 1600)).astype(np.float32)
    with torch.no_grad():
        folded = wrapper(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(folded, det.anomaly_score(X), rtol=1e-6)


def test_unfitted_detector_raises(tmp_path):
    path = tmp_path / "never.onnx"
    with pytest.raises(NotFittedError):
        AEDetector().to_onnx(path)
    assert not path.exists()


class _SamplingVAE(VAEDetector):
    # "reconstruction" scored by the training loss, which samples the posterior
    _score_methods = {"reconstruction": "forward", "latent": "latent_energy"}


def test_stochastic_score_refused_and_write_is_atomic(top_qcd_images, tmp_path):
    det = _SamplingVAE(max_epochs=1, random_state=0, device="cpu")
    det.fit(top_qcd_images["qcd"][:64])
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(ValueError, match="random"):
        det.to_onnx(path)
    assert path.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_bad_opset_and_missing_extra(fitted, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="opset"):
        fitted["ae"].to_onnx(tmp_path / "a.onnx", opset=7)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"jetad\[export\]"):
        fitted["ae"].to_onnx(tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()


def test_multiply_accumulates_of_table2_ae(fitted):
    macs = count_multiply_accumulates(fitted["ae"])
    # Table-2 AE on 40x40: encoder ~1.57 M, decoder ~1.34 M multiply-accumulates
    assert 2.8e6 < macs["total"] < 3.0e6
    assert macs["total"] == macs["conv"] + macs["linear"]
    gm = count_multiply_accumulates(fitted["gmvae"].set_params(score_type="latent"))
    assert gm["total"] < macs["total"] / 1.5  # the latent score runs the encoder only
