"""The NAE's torch module and the pre-training callback that keeps its best weights."""

import copy
import math

import torch
from skorch.callbacks import Callback

from .._ae import AEModule

__all__ = ["KeepBestWeights", "NAEModule"]


class KeepBestWeights(Callback):
    """Keep the module weights of the epoch with the lowest validation (or train) loss."""

    def initialize(self):
        self.best_loss_ = math.inf
        self.best_state_ = None
        self.best_epoch_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        loss = row.get("valid_loss", row.get("train_loss"))
        if loss is not None and math.isfinite(loss) and loss < self.best_loss_:
            self.best_loss_ = float(loss)
            self.best_epoch_ = int(row["epoch"])
            self.best_state_ = copy.deepcopy(net.module_.state_dict())


class NAEModule(AEModule):
    """:class:`AEModule` whose encoder sees the images multiplied by ``input_scale``.

    Spectral normalisation makes every layer (about) 1-Lipschitz, so the encoder
    output can vary across jets by at most the spread of the inputs (unit-sum
    40x40 images have L2 norms of a few 1e-2). The encoder's biases start at
    zero (``ConvEncoder`` under spectral norm), which keeps the
    initial latent direction independent of the image scale; biases learned in
    training can still dominate such small inputs. A fixed input scale (a
    buffer, not trained) lifts the images to unit norm; the energy is still the
    MSE of the unscaled image and its reconstruction.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("input_scale", torch.ones(()))

    def encode(self, x):
        return super().encode(x * self.input_scale)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # state dicts of detectors pickled before the input scale existed: scale 1
        state_dict.setdefault(prefix + "input_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
