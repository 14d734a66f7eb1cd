"""Variational autoencoder detector (section 2 of arXiv:2104.08291)."""

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import _CONV_CONSTRAINTS, BaseNeuralDetector
from ._modules import ARCHITECTURES, ConvDecoder, ConvEncoder, sample_skewness
from ._validation import InvalidParameterError, StrOptions, non_negative_float

__all__ = ["GaussianVAEModule", "VAEDetector", "VAEModule", "gaussian_kl",
           "half_squared_error"]


def half_squared_error(x, x_rec):
    """Per-jet ``1/2 ||x - x_rec||^2`` over all pixels (the paper's Eq. (1)), ``(n,)``."""
    return 0.5 * ((x - x_rec) ** 2).flatten(1).sum(dim=1)


def gaussian_kl(mu, logvar):
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, 1)``, summed over latents."""
    return 0.5 * (logvar.exp() + mu**2 - 1.0 - logvar).sum(dim=1)


class GaussianVAEModule(nn.Module):
    """Convolutional VAE with a diagonal Gaussian posterior; the prior is the subclass's.

    The encoder outputs the posterior mean and log-variance, the decoder maps a
    latent vector to an image. The per-jet training loss is the paper's Eq. (2)
    with its Gaussian likelihood: ``1/2 ||x - x'||^2`` (:func:`half_squared_error`,
    summed over pixels) of the image ``x'`` decoded from a reparameterised
    posterior sample, plus ``beta_kl`` times :meth:`kl_divergence`, which
    subclasses define for their prior; ``beta_kl = 1e-4`` is then the paper's
    value. Scoring methods use the posterior mean, so energies are
    deterministic.

    Parameters
    ----------
    image_shape : tuple of int
    latent_dim : int
    beta_kl : float
    n_filters, hidden_dim : int
    output_activation : {"linear", "sigmoid"}
    architecture : {"nae2023", "dillon2021"}
    """

    def __init__(self, image_shape, latent_dim, beta_kl, n_filters, hidden_dim,
                 output_activation, architecture="nae2023"):
        super().__init__()
        self.latent_dim = latent_dim
        self.beta_kl = beta_kl
        self.encoder = ConvEncoder(image_shape, 2 * latent_dim, n_filters, hidden_dim,
                                   architecture=architecture)
        self.decoder = ConvDecoder(image_shape, latent_dim, n_filters, hidden_dim,
                                   output_activation=output_activation,
                                   architecture=architecture)

    def posterior(self, x):
        """Mean and (clamped) log-variance ``(n, latent_dim)`` of the posterior."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 20.0)

    def kl_divergence(self, mu, logvar, z):
        """Per-jet ``KL(q || prior)`` of the posterior ``(mu, logvar)``; ``z`` a sample of it."""
        raise NotImplementedError

    def encode(self, x):
        return self.posterior(x)[0]

    def reconstruct(self, x):
        return self.decoder(self.encode(x))

    def reconstruction_error(self, x):
        """Per-jet mean squared error of the image decoded from the posterior mean."""
        return ((x - self.reconstruct(x)) ** 2).flatten(1).mean(dim=1)

    def forward(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        reco = half_squared_error(x, self.decoder(z))
        return reco + self.beta_kl * self.kl_divergence(mu, logvar, z)


class VAEModule(GaussianVAEModule):
    """Convolutional VAE with a diagonal Gaussian posterior and a standard-normal prior.

    The training loss per jet is ``1/2`` the summed squared error over pixels
    plus ``beta_kl`` times the analytic KL divergence. Energies:
    :meth:`reconstruction_error`, :meth:`latent_energy` and
    :meth:`latent_coordinate`.
    """

    def __init__(self, image_shape, latent_dim=3, beta_kl=1e-4, n_filters=8, hidden_dim=100,
                 output_activation="linear", architecture="nae2023"):
        super().__init__(image_shape, latent_dim, beta_kl, n_filters, hidden_dim,
                         output_activation, architecture)
        # +1 or -1, set after training from the skewness of the training posterior means
        self.register_buffer("coordinate_sign", torch.ones(()))

    def kl_divergence(self, mu, logvar, z):
        return gaussian_kl(mu, logvar)

    def latent_coordinate(self, x):
        """Oriented posterior mean ``coordinate_sign * mu_1`` of a one-dimensional latent."""
        return self.coordinate_sign.double() * self.encode(x)[:, 0].double()

    def latent_energy(self, x):
        """KL divergence of the jet's posterior from the prior."""
        mu, logvar = self.posterior(x)
        # float64: the KL of a near-prior posterior cancels to ~1e-5 relative in float32
        return gaussian_kl(mu.double(), logvar.double())


class VAEDetector(BaseNeuralDetector):
    """Variational autoencoder anomaly detector with reconstruction or latent scores.

    The encoder and decoder are the convolutional networks of
    :class:`AEDetector` (``architecture``: the NAE paper's Table 2 by default,
    or ``"dillon2021"``, the Fig. 2 network of arXiv:2104.08291); the encoder
    outputs means and log-variances of a diagonal Gaussian posterior, sampled
    with the reparameterisation trick while training. The loss per jet is the
    paper's Eq. (2): ``1/2 ||x - x'||^2`` summed over pixels (the Gaussian
    likelihood of its Eq. (1)) plus ``beta_kl`` times the KL divergence to a
    standard normal prior, so ``beta_kl = 1e-4`` is the paper's value
    (arXiv:2104.08291 also uses a linear decoder output).

    Scoring is deterministic: the posterior mean is used.

    Parameters
    ----------
    latent_dim : int, default=3
    beta_kl : float, default=1e-4
        Weight of the KL term.
    score_type : {"reconstruction", "latent", "latent_coordinate"}, \
default="reconstruction"
        Energy used by ``score_samples`` (named ``score_type`` because
        ``score`` is a method name in scikit-learn):

        * ``"reconstruction"``: the per-jet mean squared error of the
          reconstruction from the posterior mean;
        * ``"latent"``: the KL divergence of the jet's posterior from the prior
          (how far the jet sits from the bulk of the latent space, on either
          side);
        * ``"latent_coordinate"``: the posterior mean itself, for a
          one-dimensional latent (``latent_dim=1``), the paper's latent score
          (its Fig. 3). The paper orients it with labels; here its sign is
          fixed without labels after training, so that the training posterior
          means are positively skewed (the rare class forms the long tail, see
          :func:`jetad.detectors._modules.centred_logit_skewness`):
          ``coordinate_sign()`` is that sign.
    n_filters, hidden_dim : int, default=8, 100
    output_activation : {"linear", "sigmoid"}, default="linear"
    architecture : {"nae2023", "dillon2021"}, default="nae2023"
        The convolutional network, as in :class:`AEDetector`.
    image_shape, max_epochs, batch_size, lr, weight_decay, validation_fraction, \
early_stopping, callbacks, contamination, device, random_state, warm_start, verbose
        As in :class:`AEDetector`.

    Attributes
    ----------
    net_, image_shape_, n_features_in_, train_scores_, offset_
        As in :class:`AEDetector`.
    """

    # score_type -> VAEModule method giving the energy; score_type may change after fit
    _score_methods = {"reconstruction": "reconstruction_error", "latent": "latent_energy",
                      "latent_coordinate": "latent_coordinate"}
    _score_parameters = ("score_type",)
    _param_constraints = {
        **_CONV_CONSTRAINTS,
        "beta_kl": [non_negative_float],
        "score_type": [StrOptions(_score_methods)],
        "architecture": [StrOptions(ARCHITECTURES)],
    }

    def __init__(self, latent_dim=3, *, beta_kl=1e-4, score_type="reconstruction", n_filters=8,
                 hidden_dim=100, output_activation="linear", architecture="nae2023",
                 image_shape=None, max_epochs=20, batch_size=256, lr=1e-3, weight_decay=0.0, validation_fraction=None,
                 early_stopping=None, callbacks=None, contamination=0.1, device="auto",
                 random_state=None, warm_start=False, verbose=0):
        self.latent_dim = latent_dim
        self.beta_kl = beta_kl
        self.score_type = score_type
        self.n_filters = n_filters
        self.hidden_dim = hidden_dim
        self.output_activation = output_activation
        self.architecture = architecture
        super().__init__(
            image_shape=image_shape, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, validation_fraction=validation_fraction,
            early_stopping=early_stopping, callbacks=callbacks, contamination=contamination,
            device=device, random_state=random_state, warm_start=warm_start, verbose=verbose,
        )

    def _check_params(self):
        super()._check_params()
        self._check_coordinate(self.latent_dim)

    def _check_score_params(self):
        super()._check_score_params()
        self._check_coordinate(self.net_.module_.latent_dim)

    def _check_coordinate(self, latent_dim):
        if self.score_type == "latent_coordinate" and latent_dim != 1:
            raise InvalidParameterError(
                f"score_type='latent_coordinate' needs latent_dim=1, got latent_dim={latent_dim}"
            )

    def _build_module(self):
        return VAEModule(self.image_shape_, latent_dim=self.latent_dim, beta_kl=self.beta_kl,
                         n_filters=self.n_filters, hidden_dim=self.hidden_dim,
                         output_activation=self.output_activation,
                         architecture=self.architecture)

    def _train(self, X, seed, *args, **kwargs):
        super()._train(X, seed, *args, **kwargs)
        mu = self._batched(X, lambda m, x: m.encode(x)[:, :1])
        sign = 1.0 if sample_skewness(mu)[0] >= 0 else -1.0
        self.net_.module_.coordinate_sign.fill_(sign)

    def coordinate_sign(self):
        """Sign (+1 or -1) of the ``"latent_coordinate"`` score, set without labels at fit.

        Returns
        -------
        sign : float
            The sign that makes the first posterior-mean coordinate of the
            training jets positively skewed.
        """
        check_is_fitted(self)
        return float(self.net_.module_.coordinate_sign.item())
