"""Export a fitted detector's anomaly energy to ONNX for deployment.

The exported graph maps float32 images ``(n, H*W)`` to the energy ``(n,)``
that :meth:`BaseNeuralDetector.anomaly_score` returns (higher = more
anomalous), for the detector's current ``score_type`` (and
``score_component``). It is built from a copy of the fitted torch module:

* in eval mode, with spectral normalisation folded into plain weights (the
  normalised weight of the stored power-iteration vectors, as eval-mode
  scoring uses it; nothing is iterated at export);
* wrapped in :class:`EnergyModule`, which reshapes the flat images and calls
  the module method the detector's ``_score_methods`` table names for the
  score type (``energy`` for detectors without a table) with the detector's
  score keyword arguments; everything the module does to its input (e.g. the
  NAE's ``input_scale``, the DVAE's unit-sum normalisation) is part of it;
* exported with a dynamic batch axis (input ``"images"``, output ``"energy"``,
  float64 like ``anomaly_score``; energies the module computes in float32 are
  cast exactly).

Every score type of the jetad detectors is deterministic (variational
models score at the posterior mean). A score method that draws random
numbers is refused: the export raises ``ValueError`` if the graph contains
a random operator, and nothing is written.
"""

import copy
import os
import warnings
from numbers import Integral

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn.utils import parametrize

from ..utils import atomic_path as _atomic_path
from ..utils import import_optional

__all__ = ["DEFAULT_OPSET", "EnergyModule", "count_multiply_accumulates", "energy_module",
           "export_onnx"]

#: ONNX opset written by default.
DEFAULT_OPSET = 18

_RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform",
                         "RandomUniformLike", "Multinomial", "Bernoulli"})


class EnergyModule(nn.Module):
    """Anomaly energy of flat images: ``(n, H*W)`` float32 -> ``(n,)`` float64.

    Parameters
    ----------
    module : torch.nn.Module
        A detector's module (spectral normalisation already folded, eval mode).
    image_shape : tuple of int
        ``(H, W)`` of the images.
    method : str, default="energy"
        Name of the module method giving the per-jet energy.
    method_kwargs : dict or None, default=None
        Keyword arguments of that method (e.g. ``component``).
    """

    def __init__(self, module, image_shape, method="energy", method_kwargs=None):
        super().__init__()
        self.module = module
        self.image_shape = tuple(int(s) for s in image_shape)
        self.method = method
        self.method_kwargs = dict(method_kwargs or {})

    def forward(self, images):
        x = images.reshape(-1, 1, *self.image_shape)
        energy = getattr(self.module, self.method)(x, **self.method_kwargs)
        return energy.reshape(-1).to(torch.float64)


def _fold_parametrized(module):
    """Replace the parametrized tensors of ``module`` by their current values, in place.

    ``parametrize.remove_parametrizations`` is not used: it deletes the property
    from the module's class, and a deep copy shares that class with the
    original, whose parametrization would break.
    """
    values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
    del module._modules["parametrizations"]
    module.__class__ = module.__class__.__bases__[0]
    for name, value in values.items():
        module.register_parameter(name, nn.Parameter(value, requires_grad=False))


def fold_spectral_norm(module):
    """Eval-mode CPU copy of ``module`` with spectral normalisation as plain weights.

    Handles both spectral-norm APIs of torch: the parametrization
    (``torch.nn.utils.parametrizations.spectral_norm``) and the older
    forward-pre-hook (``torch.nn.utils.spectral_norm``). The weights are
    the ones eval-mode scoring uses (no power iteration). ``module`` itself
    is not modified.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    folded : torch.nn.Module
    """
    folded = copy.deepcopy(module).to("cpu").eval()
    with torch.no_grad():
        for sub in list(folded.modules()):
            if parametrize.is_parametrized(sub):
                _fold_parametrized(sub)
            hooks = [h for h in sub._forward_pre_hooks.values()
                     if isinstance(h, torch.nn.utils.spectral_norm.SpectralNorm)]
            for hook in hooks:
                torch.nn.utils.remove_spectral_norm(sub, hook.name)
    for param in folded.parameters():
        param.requires_grad_(False)
    return folded


def energy_module(detector):
    """The :class:`EnergyModule` of a fitted detector's current score type.

    Parameters
    ----------
    detector : BaseNeuralDetector
        A fitted jetad neural detector.

    Returns
    -------
    module : EnergyModule
        In eval mode on the CPU; independent of the detector's module.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the detector is not fitted.
    """
    check_is_fitted(detector)
    detector._check_score_params()
    module = fold_spectral_norm(detector.net_.module_)
    table = detector._score_methods
    method = "energy" if table is None else table[detector.score_type]
    kwargs = dict(detector._score_kwargs())
    if kwargs.get("component", 0) is None and hasattr(module, "anomaly_component"):
        # resolve "the minority mode" now: the weights are frozen in the export
        kwargs["component"] = module.anomaly_component(None)
    return EnergyModule(module, detector.image_shape_, method, kwargs).eval()


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def _op_types(model):
    ops = {node.op_type for node in _all_nodes(model.graph)}
    for function in model.functions:
        ops |= {node.op_type for node in function.node}
    return ops


def _check_opset(opset):
    if isinstance(opset, bool) or not isinstance(opset, Integral) or opset < 13:
        raise ValueError(f"opset must be an int >= 13, got {opset!r}")


def export_onnx(detector, path, *, opset=DEFAULT_OPSET):
    """Write a fitted detector's anomaly energy as an ONNX model.

    The model maps float32 images ``"images"`` of shape ``(n, H*W)`` (any
    ``n``) to ``"energy"`` of shape ``(n,)``, float64: the values of
    ``detector.anomaly_score(X)`` for the current ``score_type`` and
    ``score_component``. See :mod:`jetad.detectors._export` for how it is
    built. The file is written atomically (a failed export leaves ``path``
    untouched). Needs the ``export`` extra (``onnx``, ``onnxscript``).

    Parameters
    ----------
    detector : BaseNeuralDetector
        A fitted jetad neural detector.
    path : str or os.PathLike
        Output file, conventionally ``*.onnx``.
    opset : int, default=18
        ONNX opset version (at least 13).

    Returns
    -------
    path : str
        The written file.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the detector is not fitted.
    ValueError
        For a bad ``opset``, or if the score method draws random numbers.
    ImportError
        If ``onnx`` or ``onnxscript`` is missing (naming the extra).
    """
    _check_opset(opset)
    onnx = import_optional("onnx", extra="export")
    import_optional("onnxscript", extra="export")
    wrapper = energy_module(detector)
    example = torch.zeros(2, detector.n_features_in_, dtype=torch.float32)
    with warnings.catch_warnings():
        # raised inside torch.export by torch itself, not actionable here
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        program = torch.onnx.export(
            wrapper, (example,), None, dynamo=True, opset_version=int(opset), verbose=False,
            input_names=["images"], output_names=["energy"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    model = program.model_proto
    random_ops = sorted(_op_types(model) & _RANDOM_OPS)
    if random_ops:
        raise ValueError(
            f"{type(detector).__name__}'s score method {wrapper.method!r} draws random numbers "
            f"(ONNX operators {random_ops}); only deterministic scores can be exported"
        )
    props = {"producer": "jetad", "detector": type(detector).__name__,
             "score_method": wrapper.method, "image_shape": "x".join(map(str, wrapper.image_shape))}
    if getattr(detector, "score_type", None) is not None:
        props["score_type"] = str(detector.score_type)
    onnx.helper.set_model_props(model, props)
    path = os.fspath(path)
    with _atomic_path(path) as tmp:
        onnx.save_model(model, tmp)
    return path


def count_multiply_accumulates(detector):
    """Multiply-accumulates per jet of the exported energy, by layer type.

    Counted with forward hooks on the convolutions and dense layers of
    :func:`energy_module` for one image: a convolution costs
    ``out_elements * in_channels / groups * kernel_size``, a dense layer
    ``in_features * out_features`` (activations, pooling and the energy's own
    arithmetic are not counted).

    Parameters
    ----------
    detector : BaseNeuralDetector
        A fitted detector.

    Returns
    -------
    macs : dict
        ``"conv"``, ``"linear"`` and ``"total"`` (ints).
    """
    wrapper = energy_module(detector)
    counts = {"conv": 0, "linear": 0}

    def hook(layer, inputs, output):
        if isinstance(layer, nn.Linear):
            counts["linear"] += layer.in_features * layer.out_features
        else:
            kernel = layer.in_channels // layer.groups
            for k in layer.kernel_size:
                kernel *= k
            counts["conv"] += output[0].numel() * kernel

    handles = [m.register_forward_hook(hook) for m in wrapper.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    try:
        with torch.no_grad():
            wrapper(torch.zeros(1, detector.n_features_in_))
    finally:
        for handle in handles:
            handle.remove()
    return {**counts, "total": counts["conv"] + counts["linear"]}
