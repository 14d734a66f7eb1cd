"""The two convolutional networks: Table 2 of arXiv:2206.14225 and Fig. 2 of arXiv:2104.08291."""

import contextlib
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from jetad.detectors import AEDetector, DVAEDetector, GMVAEDetector, VAEDetector
from jetad.detectors._modules import ConvDecoder, ConvEncoder


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("architecture, kernel, pool, upsample",
                         [("nae2023", 3, nn.MaxPool2d, "bilinear"),
                          ("dillon2021", 5, nn.AvgPool2d, "nearest")])
def test_layers(architecture, kernel, pool, upsample):
    enc = ConvEncoder((40, 40), 2, architecture=architecture)
    dec = ConvDecoder((40, 40), 1, output_activation="linear", architecture=architecture)
    for conv in _convs(enc) + _convs(dec):
        assert conv.kernel_size == (kernel, kernel)
        assert conv.padding == (kernel // 2, kernel // 2)
    pools = [m for m in enc.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 1 and type(pools[0]) is pool
    ups = [m for m in dec.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 1 and ups[0].mode == upsample
    assert isinstance(dec.output, nn.Identity)
    # PReLU after every hidden layer: 5 convolutions + 1 dense in the encoder,
    # 2 dense + 3 convolutions in the decoder (its last convolution is the output)
    assert sum(isinstance(m, nn.PReLU) for m in enc.modules()) == 6
    assert sum(isinstance(m, nn.PReLU) for m in dec.modules()) == 5
    # 40 -> 20 -> 40, and the dense width is 20 * 20
    x = torch.rand(3, 1, 40, 40)
    assert enc.features(x).shape == (3, 400)
    assert dec(enc(x)[:, :1]).shape == (3, 1, 40, 40)


def test_average_pooling_and_nearest_upsampling_values():
    enc = ConvEncoder((4, 4), 1, architecture="dillon2021")
    pool = next(m for m in enc.modules() if isinstance(m, nn.AvgPool2d))
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(pool(x)[0, 0].numpy(), [[2.5, 4.5], [10.5, 12.5]])
    dec = ConvDecoder((4, 4), 1, architecture="dillon2021")
    up = next(m for m in dec.modules() if isinstance(m, nn.Upsample))
    np.testing.assert_array_equal(up(torch.tensor([[[[1.0, 2.0]]]]))[0, 0].numpy(),
                                  [[1, 1, 2, 2], [1, 1, 2, 2]])


@pytest.mark.parametrize("cls", [AEDetector, VAEDetector, GMVAEDetector])
def test_detectors_fit_with_either_architecture(cls):
    X = np.random.default_rng(0).random((32, 15 * 13)).astype(np.float32)
    scores = {}
    for arch in ("nae2023", "dillon2021"):
        det = cls(architecture=arch, image_shape=(15, 13), max_epochs=1, random_state=0,
                  device="cpu", output_activation="linear")
        with _quiet():
            det.fit(X)
        kernels = {c.kernel_size for c in _convs(det.net_.module_)}
        assert kernels == ({(5, 5)} if arch == "dillon2021" else {(3, 3)})
        assert det.reconstruct(X[:4]).shape == (4, 15 * 13)
        scores[arch] = det.score_samples(X)
    assert not np.allclose(scores["nae2023"], scores["dillon2021"])
    assert cls().get_params()["architecture"] == "nae2023"


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the GMVAE's Ashman-D warning
        yield


@pytest.mark.parametrize("cls", [AEDetector, VAEDetector, GMVAEDetector])
def test_bad_architecture_raises(cls):
    X = np.random.default_rng(0).random((8, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="architecture"):
        cls(architecture="lenet", max_epochs=1, device="cpu").fit(X)
    with pytest.raises(ValueError, match="architecture"):
        ConvEncoder((4, 4), 1, architecture="lenet")


def test_dvae_architectures():
    X = np.random.default_rng(0).random((40, 64)).astype(np.float32)
    dense = DVAEDetector(max_epochs=1, random_state=0, device="cpu").fit(X)
    assert dense.architecture == "dillon2021" and not _convs(dense.net_.module_)
    conv = DVAEDetector(architecture="nae2023", max_epochs=1, random_state=0,
                        device="cpu").fit(X)
    assert {c.kernel_size for c in _convs(conv.net_.module_)} == {(3, 3)}
    # the decoder is the bias-free R -> H*W layer either way
    assert conv.net_.module_.decoder.bias is None
    assert conv.mixture_components().shape == (2, 8, 8)
    assert np.all(np.isfinite(conv.score_samples(X)))
    with pytest.raises(ValueError, match="architecture"):
        DVAEDetector(architecture="lenet", max_epochs=1, device="cpu").fit(X)
