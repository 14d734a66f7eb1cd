"""Torch building blocks shared by the detectors.

The convolutional encoder and decoder come in two architectures (the
``architecture`` parameter of the AE, VAE and GMVAE):

* ``"nae2023"`` (default): Table 2 of the NAE paper (arXiv:2206.14225): 3x3
  convolutions with 8 filters and PReLU, one 2x2 max-pooling, dense
  400 -> 100 -> latent; the decoder mirrors it with a bilinear upsampling.
* ``"dillon2021"``: Fig. 2 of arXiv:2104.08291: the same layer sequence with
  5x5 kernels, average pooling 40 -> 20 and nearest-neighbour upsampling, PReLU
  after every hidden layer (the paper's text gives kernel, pooling, upsampling
  and activations, not the layer widths, so ``n_filters`` and ``hidden_dim``
  keep their defaults); the paper's decoder output is linear
  (``output_activation="linear"``).

Any image shape works: pooling uses ``ceil_mode`` and the decoder crops its
output back to ``(H, W)``, so the dense width is ``ceil(H/2) * ceil(W/2)`` (400
for 40x40 images).
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

__all__ = ["ARCHITECTURES", "ConvDecoder", "ConvEncoder", "centred_logit_skewness", "project_to_sphere",
           "sample_skewness"]


#: architecture -> (kernel size, pooling layer, upsampling mode)
ARCHITECTURES = {
    "nae2023": (3, nn.MaxPool2d, "bilinear"),
    "dillon2021": (5, nn.AvgPool2d, "nearest"),
}


def _layout(architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                         f"got {architecture!r}")
    return ARCHITECTURES[architecture]


def _upsample(mode):
    if mode == "nearest":
        return nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Upsample(scale_factor=2, mode=mode, align_corners=False)


def _maybe_sn(layer, use_sn):
    return _spectral_norm(layer) if use_sn else layer


def _channels_last(module):
    """Convolution weights in the channels-last layout (oneDNN's fast path on CPU, about
    1.7x in training and scoring of these 8-filter networks; single-channel images have
    the same layout in both formats)."""
    module.to(memory_format=torch.channels_last)


def project_to_sphere(z, eps=1e-12):
    """Map latent vectors onto the unit sphere ``S^{D-1}`` (row-wise L2 normalisation)."""
    return z / z.norm(dim=-1, keepdim=True).clamp_min(eps)


def centred_logit_skewness(logits):
    """Sample skewness, over jets, of each centred log-weight ``l_k - mean_j l_j``.

    The label-free orientation of the DVAE and GMVAE scores: the minority class of
    a training sample sits in the long tail of the distribution of the log-odds of
    the component that describes it (a two-population mixture with fraction
    ``f < 1/2`` on one side has skewness of the sign of that side, like a
    Bernoulli(f) variable, whose skewness is ``(1 - 2f) / sqrt(f (1 - f))``), so
    the component whose centred log-weight is the most positively skewed is the
    anomaly component. Invariant under a common shift of the logits and under a
    positive rescaling.

    Parameters
    ----------
    logits : ndarray of shape (n, R)
        Unnormalised log-weights of each jet (softmax logits or log-responsibilities).

    Returns
    -------
    skewness : ndarray of shape (R,), float64
        0 for a component whose centred log-weight is constant.
    """
    z = np.asarray(logits, dtype=np.float64)
    return sample_skewness(z - z.mean(axis=1, keepdims=True))


def sample_skewness(values):
    """Column-wise sample skewness ``m3 / m2^(3/2)`` ``(n, k) -> (k,)``; 0 for a constant column."""
    d = np.asarray(values, dtype=np.float64)
    d = d - d.mean(axis=0)
    std = np.sqrt((d**2).mean(axis=0))
    third = (d**3).mean(axis=0)
    return np.divide(third, std**3, out=np.zeros_like(third), where=std > 1e-12)


class ConvEncoder(nn.Module):
    """Encoder: five convolutions, one 2x2 pooling, dense 400 -> 100 -> out.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the single-channel input images.
    out_dim : int
        Output width (the latent dimension, or twice it for a Gaussian posterior).
    n_filters : int, default=8
    hidden_dim : int, default=100
    spectral_norm : bool, default=False
        Wrap every convolution and dense layer in spectral normalisation.
    architecture : {"nae2023", "dillon2021"}, default="nae2023"
        3x3 kernels and max-pooling, or 5x5 kernels and average pooling.
    """

    def __init__(self, image_shape, out_dim, n_filters=8, hidden_dim=100, spectral_norm=False,
                 architecture="nae2023"):
        super().__init__()
        h, w = image_shape
        f, sn = n_filters, spectral_norm
        k, pool, _ = _layout(architecture)
        p = k // 2
        self.image_shape = (h, w)
        self.pooled_shape = (math.ceil(h / 2), math.ceil(w / 2))
        flat = self.pooled_shape[0] * self.pooled_shape[1]
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(1, f, k, 1, p), sn), nn.PReLU(),
            _maybe_sn(nn.Conv2d(f, f, k, 1, p), sn), nn.PReLU(),
            pool(2, 2, ceil_mode=True),
            _maybe_sn(nn.Conv2d(f, f, k, 1, p), sn), nn.PReLU(),
            _maybe_sn(nn.Conv2d(f, f, k, 1, p), sn), nn.PReLU(),
            _maybe_sn(nn.Conv2d(f, 1, k, 1, p), sn), nn.PReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            _maybe_sn(nn.Linear(flat, hidden_dim), sn), nn.PReLU(),
            _maybe_sn(nn.Linear(hidden_dim, out_dim), sn),
        )
        if sn:
            # Spectral norm caps the gain of every layer at 1, so a unit-sum jet image
            # (pixels ~1e-3) could never outweigh PyTorch's default biases (~0.1-0.3): every
            # jet would encode to the same point of the latent sphere. Zero biases, as in
            # the NAE reference code, make the bias-free network positively homogeneous, so
            # the direction of the latent vector does not depend on the image scale.
            with torch.no_grad():
                for module in self.modules():
                    if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                        module.bias.zero_()
        _channels_last(self)

    def forward(self, x):
        """Map images ``(n, 1, H, W)`` to ``(n, out_dim)`` (linear output)."""
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """Decoder: dense latent -> 100 -> 400, 2x upsampling, four convolutions, output.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the output images.
    latent_dim : int
    n_filters : int, default=8
    hidden_dim : int, default=100
    spectral_norm : bool, default=False
    output_activation : {"sigmoid", "linear"}, default="sigmoid"
    architecture : {"nae2023", "dillon2021"}, default="nae2023"
        3x3 kernels and bilinear upsampling, or 5x5 kernels and nearest-neighbour
        upsampling.
    """

    def __init__(self, image_shape, latent_dim, n_filters=8, hidden_dim=100,
                 spectral_norm=False, output_activation="sigmoid", architecture="nae2023"):
        super().__init__()
        h, w = image_shape
        f, sn = n_filters, spectral_norm
        k, _, upsample = _layout(architecture)
        p = k // 2
        self.image_shape = (h, w)
        self.pooled_shape = (math.ceil(h / 2), math.ceil(w / 2))
        flat = self.pooled_shape[0] * self.pooled_shape[1]
        self.head = nn.Sequential(
            _maybe_sn(nn.Linear(latent_dim, hidden_dim), sn), nn.PReLU(),
            _maybe_sn(nn.Linear(hidden_dim, flat), sn), nn.PReLU(),
        )
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(1, f, k, 1, p), sn), nn.PReLU(),
            _maybe_sn(nn.Conv2d(f, f, k, 1, p), sn), nn.PReLU(),
            _upsample(upsample),
            _maybe_sn(nn.Conv2d(f, f, k, 1, p), sn), nn.PReLU(),
            _maybe_sn(nn.Conv2d(f, 1, k, 1, p), sn),
        )
        if output_activation == "sigmoid":
            # Start from outputs near the mean pixel of a unit-sum image (1/(H*W)) rather
            # than 0.5: the large initial error otherwise drives every pre-activation
            # negative, the sigmoid saturates and the network never leaves the all-zero
            # reconstruction.
            last = self.features[-1]
            bias = last.parametrizations.bias.original if hasattr(last, "parametrizations") \
                and "bias" in last.parametrizations else last.bias
            with torch.no_grad():
                bias.fill_(-math.log(h * w - 1.0) if h * w > 1 else 0.0)
            self.output = nn.Sigmoid()
        elif output_activation == "linear":
            self.output = nn.Identity()
        else:
            raise ValueError(
                f"output_activation must be 'sigmoid' or 'linear', got {output_activation!r}"
            )
        _channels_last(self)

    def forward(self, z):
        """Map latents ``(n, latent_dim)`` to images ``(n, 1, H, W)``."""
        x = self.head(z).view(-1, 1, *self.pooled_shape)
        x = self.features(x)[:, :, : self.image_shape[0], : self.image_shape[1]]
        return self.output(x)
