"""Convolutional autoencoder detector (Table 2 of arXiv:2206.14225)."""

from torch import nn

from ._base import _CONV_CONSTRAINTS, BaseNeuralDetector
from ._modules import ARCHITECTURES, ConvDecoder, ConvEncoder, project_to_sphere
from ._validation import StrOptions

__all__ = ["AEDetector", "AEModule"]


class AEModule(nn.Module):
    """Convolutional autoencoder whose energy is the per-jet mean squared error.

    Parameters
    ----------
    image_shape : tuple of int
    latent_dim : int
    latent_sphere : bool
        Project the latent vector onto the unit sphere ``S^{latent_dim-1}``.
    spectral_norm : bool
        Spectral normalisation on every layer (power iterations only advance in
        training mode).
    n_filters, hidden_dim : int
    output_activation : {"sigmoid", "linear"}
    architecture : {"nae2023", "dillon2021"}
    """

    def __init__(self, image_shape, latent_dim=3, latent_sphere=False, spectral_norm=False,
                 n_filters=8, hidden_dim=100, output_activation="sigmoid",
                 architecture="nae2023"):
        super().__init__()
        self.latent_sphere = latent_sphere
        self.encoder = ConvEncoder(image_shape, latent_dim, n_filters, hidden_dim, spectral_norm,
                                   architecture)
        self.decoder = ConvDecoder(image_shape, latent_dim, n_filters, hidden_dim, spectral_norm,
                                   output_activation, architecture)

    def encode(self, x):
        z = self.encoder(x)
        return project_to_sphere(z) if self.latent_sphere else z

    def decode(self, z):
        return self.decoder(z)

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def energy(self, x):
        """Per-jet mean squared error between ``x`` and its reconstruction."""
        return ((x - self.reconstruct(x)) ** 2).flatten(1).mean(dim=1)

    def forward(self, x):
        return self.energy(x)


class AEDetector(BaseNeuralDetector):
    """Convolutional autoencoder anomaly detector; energy = per-jet MSE.

    By default the network is Table 2 of the NAE paper (arXiv:2206.14225): five
    3x3 convolutions with 8 filters and PReLU around a 2x2 max-pool, dense
    400 -> 100 -> ``latent_dim``, and a mirrored decoder with bilinear upsampling
    and a sigmoid output; ``architecture="dillon2021"`` gives the network of
    Fig. 2 of arXiv:2104.08291 instead. Trained on background jets only, it tags jets it
    reconstructs badly. Optionally the latent lies on the unit sphere and every
    layer is spectrally normalised, as the Normalized Autoencoder needs.

    Parameters
    ----------
    latent_dim : int, default=3
        Dimension of the bottleneck.
    latent_sphere : bool, default=False
        Normalise latent vectors onto the unit sphere.
    spectral_norm : bool, default=False
        Spectral normalisation on every convolution and dense layer.
    n_filters : int, default=8
        Filters per convolution.
    hidden_dim : int, default=100
        Width of the dense hidden layer.
    output_activation : {"sigmoid", "linear"}, default="sigmoid"
        Activation of the decoder output.
    architecture : {"nae2023", "dillon2021"}, default="nae2023"
        ``"nae2023"``: Table 2 of arXiv:2206.14225 (3x3 kernels, max-pooling,
        bilinear upsampling). ``"dillon2021"``: Fig. 2 of arXiv:2104.08291, the
        same layer sequence with 5x5 kernels, average pooling 40 -> 20 and
        nearest-neighbour upsampling (PReLU after every hidden layer in both);
        the paper's text does not give the layer widths, so ``n_filters`` and
        ``hidden_dim`` apply to both, and its output is linear (set
        ``output_activation="linear"``).
    image_shape : tuple of int or None, default=None
        ``(H, W)``; None infers a square image from the number of features.
    max_epochs : int, default=20
    batch_size : int, default=256
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
    validation_fraction : float or None, default=None
        Held-out fraction for the validation loss.
    early_stopping : int or None, default=None
        Patience of early stopping on the validation loss (needs
        ``validation_fraction``); the best weights are restored.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks, e.g. ``skorch.callbacks.Checkpoint`` or ``LRScheduler``.
    contamination : float, default=0.1
        Fraction of training jets below ``offset_``.
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network (``net_.module_`` is the torch module, ``net_.history``
        the per-epoch training history).
    image_shape_ : tuple of int
    n_features_in_ : int
    train_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training jets, to re-threshold without refitting.
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad import AEDetector
    >>> X = np.random.default_rng(0).random((64, 16 * 16)).astype(np.float32)
    >>> det = AEDetector(max_epochs=1, random_state=0).fit(X)
    >>> det.score_samples(X).shape
    (64,)
    """

    _param_constraints = {
        **_CONV_CONSTRAINTS,
        "latent_sphere": ["boolean"],
        "spectral_norm": ["boolean"],
        "architecture": [StrOptions(ARCHITECTURES)],
    }

    def __init__(self, latent_dim=3, *, latent_sphere=False, spectral_norm=False, n_filters=8,
                 hidden_dim=100, output_activation="sigmoid", architecture="nae2023",
                 image_shape=None, max_epochs=20,
                 batch_size=256, lr=1e-3, weight_decay=0.0, validation_fraction=None,
                 early_stopping=None, callbacks=None, contamination=0.1, device="auto",
                 random_state=None, warm_start=False, verbose=0):
        self.latent_dim = latent_dim
        self.latent_sphere = latent_sphere
        self.spectral_norm = spectral_norm
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

    def _build_module(self):
        return AEModule(self.image_shape_, self.latent_dim, self.latent_sphere,
                        self.spectral_norm, self.n_filters, self.hidden_dim,
                        self.output_activation, self.architecture)
