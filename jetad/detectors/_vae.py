"""Variational autoencoder detector (section 2 of arXiv:2104.08291)."""

import torch
from torch import nn

from ._base import BaseNeuralDetector
from ._modules import ConvDecoder, ConvEncoder

__all__ = ["VAEDetector", "VAEModule", "gaussian_kl"]

_SCORES = ("reconstruction", "latent")


def gaussian_kl(mu, logvar):
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, 1)``, summed over latents."""
    return 0.5 * (logvar.exp() + mu**2 - 1.0 - logvar).sum(dim=1)


class VAEModule(nn.Module):
    """Convolutional VAE with a diagonal Gaussian posterior and a standard-normal prior.

    The training loss per jet is the summed squared error over pixels plus
    ``beta_kl`` times the KL divergence. At score time the posterior mean is
    decoded, so energies are deterministic.
    """

    def __init__(self, image_shape, latent_dim=3, beta_kl=1e-4, score_type="reconstruction",
                 n_filters=8, hidden_dim=100, output_activation="linear"):
        super().__init__()
        self.latent_dim = latent_dim
        self.beta_kl = beta_kl
        self.score_type = score_type
        self.encoder = ConvEncoder(image_shape, 2 * latent_dim, n_filters, hidden_dim)
        self.decoder = ConvDecoder(image_shape, latent_dim, n_filters, hidden_dim,
                                   output_activation=output_activation)

    def posterior(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 20.0)

    def encode(self, x):
        return self.posterior(x)[0]

    def reconstruct(self, x):
        return self.decoder(self.encode(x))

    def reconstruction_error(self, x):
        return ((x - self.reconstruct(x)) ** 2).flatten(1).mean(dim=1)

    def latent_energy(self, x):
        mu, logvar = self.posterior(x)
        return gaussian_kl(mu, logvar)

    def energy(self, x):
        if self.score_type == "latent":
            return self.latent_energy(x)
        return self.reconstruction_error(x)

    def forward(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        sse = ((x - self.decoder(z)) ** 2).flatten(1).sum(dim=1)
        return sse + self.beta_kl * gaussian_kl(mu, logvar)


class VAEDetector(BaseNeuralDetector):
    """Variational autoencoder anomaly detector with reconstruction or latent scores.

    The encoder and decoder are the convolutional networks of
    :class:`AEDetector`; the encoder outputs means and log-variances of a
    diagonal Gaussian posterior, sampled with the reparameterisation trick while
    training. The loss per jet is the summed squared pixel error plus
    ``beta_kl`` times the KL divergence to a standard normal prior
    (arXiv:2104.08291 uses ``beta_kl = 1e-4`` and a linear decoder output).

    Scoring is deterministic: the posterior mean is used.

    Parameters
    ----------
    latent_dim : int, default=3
    beta_kl : float, default=1e-4
        Weight of the KL term.
    score_type : {"reconstruction", "latent"}, default="reconstruction"
        Energy used by ``score_samples`` (named ``score_type`` because
        ``score`` is a method name in scikit-learn): the per-jet mean squared error of the
        reconstruction from the posterior mean, or the KL divergence of the
        jet's posterior from the prior (how far the jet sits from the bulk of
        the latent space).
    n_filters, hidden_dim : int, default=8, 100
    output_activation : {"linear", "sigmoid"}, default="linear"
    image_shape, max_epochs, batch_size, lr, weight_decay, validation_fraction, \
early_stopping, callbacks, contamination, device, random_state, warm_start, verbose
        As in :class:`AEDetector`.

    Attributes
    ----------
    net_, image_shape_, n_features_in_, train_scores_, offset_
        As in :class:`AEDetector`.
    """

    def __init__(self, latent_dim=3, *, beta_kl=1e-4, score_type="reconstruction", n_filters=8,
                 hidden_dim=100, output_activation="linear", image_shape=None, max_epochs=20,
                 batch_size=256, lr=1e-3, weight_decay=0.0, validation_fraction=None,
                 early_stopping=None, callbacks=None, contamination=0.1, device="auto",
                 random_state=None, warm_start=False, verbose=0):
        self.latent_dim = latent_dim
        self.beta_kl = beta_kl
        self.score_type = score_type
        self.n_filters = n_filters
        self.hidden_dim = hidden_dim
        self.output_activation = output_activation
        self.image_shape = image_shape
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.callbacks = callbacks
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def _check_params(self):
        super()._check_params()
        if self.score_type not in _SCORES:
            raise ValueError(f"score_type must be one of {_SCORES}, got {self.score_type!r}")

    def _build_module(self):
        return VAEModule(self.image_shape_, self.latent_dim, self.beta_kl, self.score_type,
                         self.n_filters, self.hidden_dim, self.output_activation)

    def _batch_energy(self, module, x):
        # ``score_type`` may be changed after fit (set_params) without retraining.
        module.score_type = self.score_type
        return module.energy(x)
