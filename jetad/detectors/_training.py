"""Training plumbing of the neural detectors: the skorch net, devices, optimiser keywords."""

import contextlib
import functools
import inspect
import re

import torch
from skorch import NeuralNet

__all__ = []


class _PerSampleLossNet(NeuralNet):
    """skorch net whose module already returns the per-sample loss: average it.

    :meth:`partial_fit_weighted` trains with the sample weights as skorch's
    ``y``: the batch loss is then the weighted mean ``sum(w_i l_i) / sum(w_i)``
    (``np.average``). Without weights skorch's ``y`` is a placeholder.
    """

    weighted = False

    def partial_fit_weighted(self, X, sample_weight=None):
        self.weighted = sample_weight is not None
        return self.partial_fit(X, sample_weight)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not self.weighted:
            return y_pred.mean()
        w = torch.as_tensor(y_true, device=y_pred.device, dtype=y_pred.dtype)
        return (y_pred * w).sum() / w.sum()


def _silent(*args, **kwargs):
    """Sink for skorch messages when the detector is not verbose."""


_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _resolve_device(device):
    """The device string skorch gets; ValueError if it is unavailable (checked at fit)."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not _is_device(device):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda[:i]', 'mps' or a torch.device "
                         f"of those types, got {device!r}")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device={str(device)!r} was requested but only "
                             f"{torch.cuda.device_count()} CUDA device(s) are available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was requested but the Apple MPS backend is not "
                         "available (torch.backends.mps.is_available() is False)")
    return str(device)


def _is_device(device):
    if isinstance(device, torch.device):
        return device.type in ("cpu", "cuda", "mps")
    return isinstance(device, str) and _DEVICE_PATTERN.fullmatch(device) is not None


def _is_optimizer(optimizer):
    return isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)


_OPTIMIZER_PREFIX = "optimizer__"


def _accepts_optimizer_params(init):
    """Wrap a detector's ``__init__`` to take ``optimizer`` and ``optimizer__*`` (skorch style).

    The signature seen by scikit-learn gains a keyword ``optimizer=None``; the
    ``optimizer__<name>`` keywords are stored as attributes of those names and
    reported by ``get_params``. They are left out of the signature, since
    sklearn's estimator checks call ``__init__`` with every name it lists.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, optimizer=None, **kwargs):
        extra = {k: v for k, v in kwargs.items() if k.startswith(_OPTIMIZER_PREFIX)}
        init(self, *args, **{k: v for k, v in kwargs.items() if k not in extra})
        # set after the wrapped __init__, whose super().__init__ may be wrapped too
        self.optimizer = optimizer
        for key, value in extra.items():
            setattr(self, key, value)

    params = list(signature.parameters.values())
    params.append(inspect.Parameter("optimizer", inspect.Parameter.KEYWORD_ONLY, default=None))
    __init__.__signature__ = signature.replace(parameters=params)
    __init__._accepts_optimizer_params = True
    return __init__


@contextlib.contextmanager
def _seeded_torch(seed, device):
    """Seed torch inside a forked RNG state: the global state is left untouched."""
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class _OptimizerParamsMixin:
    """``optimizer`` and skorch-style ``optimizer__<name>`` parameters of the detectors.

    Every subclass ``__init__`` is wrapped by :func:`_accepts_optimizer_params`;
    ``get_params`` and ``set_params`` handle the ``optimizer__*`` keywords.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is not None and "optimizer" not in inspect.signature(init).parameters:
            cls.__init__ = _accepts_optimizer_params(init)

    def get_params(self, deep=True):
        """Parameters of the detector, ``optimizer__<name>`` keywords included.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep)
        params.update((k, v) for k, v in vars(self).items() if k.startswith(_OPTIMIZER_PREFIX))
        return params

    def set_params(self, **params):
        """Set parameters; ``optimizer__<name>`` keywords are stored as they are (skorch).

        Returns
        -------
        self
        """
        for key in [k for k in params if k.startswith(_OPTIMIZER_PREFIX)]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def _optimizer_kwargs(self):
        """``optimizer__*`` keywords of the skorch net; ValueError on a conflict."""
        user = {k: v for k, v in self.get_params(deep=False).items()
                if k.startswith(_OPTIMIZER_PREFIX)}
        for key, param in (("optimizer__lr", "lr"), ("optimizer__weight_decay", "weight_decay")):
            if key in user:
                raise ValueError(f"{key} is set by the {param} parameter; use {param}=")
        clash = sorted(set(user) & set(self._net_kwargs()))
        if clash:
            raise ValueError(f"{clash} are set by {type(self).__name__}'s own parameters")
        return user

    def _own_net_kwargs(self):
        """``_net_kwargs`` less the ``optimizer__*`` settings the chosen optimiser does not take.

        A detector's own optimiser settings (the DVAE's Adam ``betas``) do not
        apply to an optimiser without them (e.g. ``torch.optim.SGD``).
        """
        kwargs = self._net_kwargs()
        signature = inspect.signature(self.optimizer or torch.optim.Adam)
        if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            return kwargs
        # param_groups is skorch's own (per-group settings, e.g. the GMVAE's prior_lr)
        return {k: v for k, v in kwargs.items() if not k.startswith(_OPTIMIZER_PREFIX)
                or k == "optimizer__param_groups"
                or k[len(_OPTIMIZER_PREFIX):] in signature.parameters}
