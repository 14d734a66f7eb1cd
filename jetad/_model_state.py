"""Estimators as JSON-safe trees plus a table of plain arrays: the codec of the model format.

:func:`jetad.save_model` and :func:`jetad.load_model` (in :mod:`jetad._model_io`) store
the tree as ``model.json`` and the arrays in ``tensors.safetensors``. Nothing here
pickles or evaluates: a value is a JSON primitive, a list, a plain JSON object, or a
tagged object ``{"@": tag, ...}``:

``float``
    A non-finite float (``"nan"``, ``"inf"`` or ``"-inf"``).
``tuple``, ``dict``
    A tuple; a dict whose keys are not all strings or that has a key ``"@"``.
``scalar``, ``dtype``
    A numpy scalar of a numeric dtype; a numpy dtype or scalar type.
``ndarray``, ``tensor``
    A numeric numpy array or torch tensor, by key into the array table.
``strarray``
    A numpy array of strings (e.g. ``feature_names_in_``), inline.
``random_state``
    A ``numpy.random.RandomState`` (its MT19937 state).
``torch_optimizer``, ``torch_device``
    A ``torch.optim`` optimiser class of :data:`TORCH_OPTIMIZERS`, by name (a
    detector's ``optimizer``); a ``torch.device``, by its string.
``estimator``
    A scikit-learn estimator: class path, ``get_params(deep=False)`` (nested
    estimators recursively) and every other instance attribute (the fitted state).
``skorch_net``
    The fitted skorch net of a neural detector: module state dict, history, device;
    rebuilt by :meth:`BaseNeuralDetector._restore_net`, never unpickled.
``object``
    A plain data object of a jetad class (e.g. the NAE's replay buffer): its
    attributes, restored without calling any of its code.

Classes come only from an allowlist: scikit-learn's ``Pipeline`` and the classes
defined in ``jetad`` (estimators, or plain data classes); a class path outside
``jetad`` is refused before anything is imported. Optimiser classes are stored by
name and looked up in ``torch.optim`` only if the name is in :data:`TORCH_OPTIMIZERS`.
"""

import collections
import importlib
import inspect
import math
import re
import sys

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["Decoder", "Encoder", "resolve_class"]

_TAG = "@"
_SKLEARN_CLASSES = frozenset({"sklearn.pipeline.Pipeline"})
_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_NAME = re.compile(r"[A-Za-z_]\w*")
#: dtypes of the array table (what safetensors stores and numpy reads back exactly).
ARRAY_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                          "uint32", "uint64", "float16", "float32", "float64"})
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
#: ``torch.optim`` optimisers a model file may name (a detector's ``optimizer``).
TORCH_OPTIMIZERS = frozenset({"Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "ASGD",
                              "NAdam", "RAdam", "RMSprop", "Rprop", "SGD"})


# ------------------------------------------------------------------ classes
def _is_plain_data_class(cls):
    """A class whose instances are restored by filling ``__dict__`` (no custom protocol)."""
    if issubclass(cls, BaseEstimator) or issubclass(cls, BaseException):
        return False
    if "__slots__" in vars(cls) or cls.__new__ is not object.__new__:
        return False
    torch = sys.modules.get("torch")
    if torch is not None and issubclass(cls, torch.nn.Module):
        return False
    return (cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and cls.__getstate__ is object.__getstate__
            and getattr(cls, "__setstate__", None) is None)


def _is_abstract(cls):
    """Abstract by ABCMeta or by an ``abc.abstractmethod`` left unimplemented."""
    return inspect.isabstract(cls) or any(
        getattr(getattr(cls, name, None), "__isabstractmethod__", False) for name in dir(cls))


def _public_path(cls):
    """Shortest ``module.Name`` under which ``cls`` is importable (public names first)."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = ".".join(parts[:i])
        try:
            if getattr(importlib.import_module(module), cls.__qualname__, None) is cls:
                return f"{module}.{cls.__qualname__}"
        except ImportError:
            continue
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_class(path, *, estimator):
    """The allowlisted class named by ``path``; ValueError for anything else.

    Nothing is imported unless ``path`` names scikit-learn's ``Pipeline`` or lies
    under ``jetad.``; the object found must be a class defined in jetad (or be the
    Pipeline): a concrete estimator if ``estimator``, else a plain data class.
    """
    if (not isinstance(path, str) or not _PATH.fullmatch(path)
            or any(part.startswith("__") for part in path.split("."))):
        raise ValueError(f"invalid class path {path!r} in the model file")
    if path in _SKLEARN_CLASSES and estimator:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)
    if not path.startswith("jetad."):
        raise ValueError(
            f"class {path!r} is not allowed in a jetad model file: only jetad's own "
            "classes and sklearn.pipeline.Pipeline are loaded"
        )
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"class {path!r} of the model file does not exist in this "
                         f"jetad version: {exc}") from None
    if not (isinstance(cls, type) and (cls.__module__ + ".").startswith("jetad.")):
        raise ValueError(f"{path!r} in the model file is not a jetad class")
    if estimator and not (issubclass(cls, BaseEstimator) and not _is_abstract(cls)):
        raise ValueError(f"{path!r} in the model file is not a concrete jetad estimator")
    if not estimator and not _is_plain_data_class(cls):
        raise ValueError(f"{path!r} in the model file is not a plain jetad data class")
    return cls


def _class_path(cls, *, estimator):
    """Path recorded for ``cls``; TypeError when :func:`resolve_class` would refuse it."""
    path = _public_path(cls)
    try:
        ok = resolve_class(path, estimator=estimator) is cls
    except ValueError:
        ok = False
    if not ok:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} cannot be stored in a jetad model file, "
            "which holds only jetad's estimators and sklearn Pipelines of them (use "
            "joblib/pickle for other classes, and open such files only if you trust them)"
        )
    return path


def _check_name(name, where):
    if not (isinstance(name, str) and _NAME.fullmatch(name)) or name.startswith("__"):
        raise ValueError(f"{where}: invalid attribute name {name!r} in the model file")


def _is_member(cls, name):
    """``name`` is a method, property or other descriptor of ``cls`` (not a data default)."""
    try:
        attr = inspect.getattr_static(cls, name)
    except AttributeError:
        return False
    return callable(attr) or hasattr(type(attr), "__get__")


class _NetState:
    """A decoded ``skorch_net`` node, waiting for its detector to rebuild the net."""

    def __init__(self, module, history, device):
        self.module, self.history, self.device = module, history, device


# ------------------------------------------------------------------ encoding
class Encoder:
    """Turns an estimator into a JSON-safe tree and fills ``arrays`` / ``manifest``."""

    def __init__(self):
        self.arrays = {}
        self.manifest = {}

    def _array(self, arr, where, tag):
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"{where}: arrays of dtype {arr.dtype} cannot be saved")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{where} holds NaN or infinite values: refusing to save a "
                             "broken model (did the training diverge?)")
        key = f"t{len(self.arrays)}"
        self.arrays[key] = arr
        self.manifest[key] = {"dtype": arr.dtype.name, "shape": list(arr.shape), "path": where}
        return {_TAG: tag, "key": key}

    def _tensor(self, value, where):
        import torch

        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            raise TypeError(f"{where}: bfloat16 tensors cannot be saved")
        return self._array(value.numpy(), where, "tensor")

    def _ndarray(self, value, where):
        if value.dtype.kind in "OUS":
            flat = value.ravel().tolist()
            if not all(isinstance(s, str) for s in flat):
                raise TypeError(f"{where}: object arrays can be saved only if they hold str")
            return {_TAG: "strarray", "v": flat, "shape": list(value.shape),
                    "object": value.dtype.kind == "O"}
        return self._array(value, where, "ndarray")

    def value(self, value, where):
        """JSON-safe encoding of ``value`` (``where`` names it in error messages)."""
        if isinstance(value, np.generic):
            return self._scalar(value, where)
        if value is None or type(value) in (bool, str, int):
            return value
        if type(value) is float:
            if math.isfinite(value):
                return value
            return {_TAG: "float", "v": str(value)}
        if type(value) is list:
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {_TAG: "tuple", "v": [self.value(v, f"{where}[{i}]")
                                         for i, v in enumerate(value)]}
        if type(value) in (dict, collections.OrderedDict):
            return self._dict(value, where)
        if type(value) is np.ndarray:
            return self._ndarray(value, where)
        if isinstance(value, np.dtype) or (isinstance(value, type)
                                           and issubclass(value, np.generic)):
            return self._dtype(value, where)
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            return {_TAG: "random_state", "keys": self._array(keys, f"{where}.keys", "ndarray"),
                    "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}
        return self._other(value, where)

    def _dict(self, value, where):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: self.value(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {_TAG: "dict", "items": [[self.value(k, f"{where} key"),
                                         self.value(v, f"{where}[{k!r}]")]
                                        for k, v in value.items()]}

    def _scalar(self, value, where):
        if value.dtype.kind == "U":
            return str(value)
        if value.dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"{where}: numpy scalars of dtype {value.dtype} cannot be saved")
        return {_TAG: "scalar", "dtype": value.dtype.name, "v": self.value(value.item(), where)}

    def _dtype(self, value, where):
        dtype = np.dtype(value)
        if dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"{where}: dtype {dtype} cannot be saved")
        return {_TAG: "dtype", "v": dtype.name, "type": isinstance(value, type)}

    def _other(self, value, where):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            return self._tensor(value, where)
        if torch is not None and isinstance(value, torch.device):
            return {_TAG: "torch_device", "v": str(value)}
        if (torch is not None and isinstance(value, type)
                and issubclass(value, torch.optim.Optimizer)):
            if (value.__name__ in TORCH_OPTIMIZERS
                    and getattr(torch.optim, value.__name__, None) is value):
                return {_TAG: "torch_optimizer", "v": value.__name__}
            raise TypeError(f"{where}: the optimiser {value.__module__}.{value.__qualname__} "
                            f"cannot be stored in a jetad model file, only the torch.optim "
                            f"optimisers {sorted(TORCH_OPTIMIZERS)}")
        skorch = sys.modules.get("skorch")
        if skorch is not None and isinstance(value, skorch.NeuralNet):
            return {_TAG: "skorch_net",
                    "module": self.value(dict(value.module_.state_dict()), f"{where}.module_"),
                    "history": self.value(list(value.history), f"{where}.history"),
                    "device": str(value.device)}
        if isinstance(value, BaseEstimator):
            return self.estimator(value, where)
        cls = type(value)
        if (cls.__module__ + ".").startswith("jetad.") and _is_plain_data_class(cls):
            state = {}
            for name, v in vars(value).items():
                _check_name(name, where)
                state[name] = self.value(v, f"{where}.{name}")
            return {_TAG: "object", "class": _class_path(cls, estimator=False), "state": state}
        raise TypeError(
            f"{where}: an object of type {cls.__module__}.{cls.__qualname__} cannot be "
            "stored in a jetad model file (it holds parameters, arrays and jetad estimators "
            "only); e.g. set callbacks=None before saving, or use joblib for trusted use"
        )

    def estimator(self, est, where):
        """Encoding of a scikit-learn estimator: class, parameters and fitted state."""
        path = _class_path(type(est), estimator=True)
        params = est.get_params(deep=False)
        node = {_TAG: "estimator", "class": path,
                "params": {k: self.value(v, f"{where}.{k}") for k, v in params.items()},
                "attributes": {}}
        for name, v in vars(est).items():
            if name in params:
                continue
            _check_name(name, where)
            node["attributes"][name] = self.value(v, f"{where}.{name}")
        return node


# ------------------------------------------------------------------ decoding
class Decoder:
    """Rebuilds values from a tree and an array table checked against its manifest."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.used = set()

    def _array(self, node, where):
        key = node["key"]
        if not isinstance(key, str) or key not in self.arrays:
            raise ValueError(f"{where}: array {key!r} is missing from tensors.safetensors")
        if key in self.used:
            raise ValueError(f"{where}: array {key!r} is referenced twice")
        self.used.add(key)
        return self.arrays[key]

    def value(self, node, where):
        """The value encoded by ``node``."""
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            raise ValueError(f"{where}: unexpected JSON value {node!r}")
        if _TAG not in node:
            return {k: self.value(v, f"{where}[{k!r}]") for k, v in node.items()}
        tag = node[_TAG]
        handler = self._handlers.get(tag) if isinstance(tag, str) else None
        if handler is None:
            raise ValueError(f"{where}: unknown value type {tag!r} in the model file")
        return handler(self, node, where)

    def _float(self, node, where):
        if node["v"] not in _NONFINITE:
            raise ValueError(f"{where}: invalid float {node['v']!r}")
        return _NONFINITE[node["v"]]

    def _tuple(self, node, where):
        if not isinstance(node["v"], list):
            raise ValueError(f"{where}: a tuple must hold a list")
        return tuple(self.value(v, f"{where}[{i}]") for i, v in enumerate(node["v"]))

    def _dict(self, node, where):
        out = {}
        for key, v in node["items"]:
            key = self.value(key, f"{where} key")
            try:
                out[key] = self.value(v, f"{where}[{key!r}]")
            except TypeError:
                raise ValueError(f"{where}: unhashable dict key {key!r}") from None
        return out

    def _scalar(self, node, where):
        dtype = node["dtype"]
        if dtype not in ARRAY_DTYPES:
            raise ValueError(f"{where}: invalid scalar dtype {dtype!r}")
        return np.dtype(dtype).type(self.value(node["v"], where))

    def _dtype(self, node, where):
        if node["v"] not in ARRAY_DTYPES:
            raise ValueError(f"{where}: invalid dtype {node['v']!r}")
        dtype = np.dtype(node["v"])
        return dtype.type if node.get("type") else dtype

    def _ndarray(self, node, where):
        return self._array(node, where)

    def _tensor(self, node, where):
        import torch

        return torch.from_numpy(np.array(self._array(node, where)))

    def _strarray(self, node, where):
        values, shape = node["v"], node["shape"]
        if not (isinstance(values, list) and all(isinstance(s, str) for s in values)):
            raise ValueError(f"{where}: a string array must hold a list of str")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)
                and math.prod(shape) == len(values)):
            raise ValueError(f"{where}: invalid shape {shape!r} of a string array")
        return np.array(values, dtype=object if node["object"] else str).reshape(shape)

    def _random_state(self, node, where):
        keys = self._array(node["keys"], f"{where}.keys")
        if keys.dtype != np.uint32 or keys.shape != (624,):
            raise ValueError(f"{where}: invalid RandomState keys")
        rs = np.random.RandomState()
        rs.set_state(("MT19937", keys, int(node["pos"]), int(node["has_gauss"]),
                      float(node["cached"])))
        return rs

    def _torch_device(self, node, where):
        import torch

        try:
            return torch.device(node["v"])
        except (RuntimeError, TypeError):
            raise ValueError(f"{where}: invalid torch device {node['v']!r}") from None

    def _torch_optimizer(self, node, where):
        if node["v"] not in TORCH_OPTIMIZERS:
            raise ValueError(f"{where}: optimizer {node['v']!r} is not allowed in a jetad "
                             f"model file (allowed: {sorted(TORCH_OPTIMIZERS)})")
        import torch

        return getattr(torch.optim, node["v"])

    def _net(self, node, where):
        module = self.value(node["module"], f"{where}.module_")
        history = self.value(node["history"], f"{where}.history")
        if not (isinstance(module, dict) and isinstance(history, list)
                and isinstance(node["device"], str)):
            raise ValueError(f"{where}: malformed skorch net")
        return _NetState(module, history, node["device"])

    def _object(self, node, where):
        cls = resolve_class(node["class"], estimator=False)
        obj = object.__new__(cls)
        for name, v in node["state"].items():
            _check_name(name, where)
            obj.__dict__[name] = self.value(v, f"{where}.{name}")
        return obj

    def estimator(self, node, where):
        """The estimator of an ``estimator`` node (checked, fitted state restored)."""
        if not (isinstance(node, dict) and node.get(_TAG) == "estimator"):
            raise ValueError(f"{where}: expected an estimator")
        cls = resolve_class(node["class"], estimator=True)
        names = set(cls._get_param_names())
        params = node["params"]
        keywords = getattr(cls, "_keyword_param_prefix", None)
        unknown = sorted(k for k in set(params) - names
                         if not (keywords and isinstance(k, str) and k.startswith(keywords)
                                 and _NAME.fullmatch(k)))
        if unknown:
            raise ValueError(f"{where}: {cls.__name__} has no parameters {unknown} (saved "
                             "by another jetad version?)")
        est = cls(**{k: self.value(v, f"{where}.{k}") for k, v in params.items()})
        check = getattr(est, "_check_params", None)
        if cls.__module__.startswith("jetad.") and callable(check):
            try:
                check()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: invalid parameters in the model file: {exc}") from None
        net = None
        for name, sub in node["attributes"].items():
            _check_name(name, where)
            if name in names or _is_member(cls, name):
                raise ValueError(f"{where}: attribute {name!r} would shadow a parameter or "
                                 f"a member of {cls.__name__}")
            value = self.value(sub, f"{where}.{name}")
            if isinstance(value, _NetState):
                net = (name, value)
            else:
                est.__dict__[name] = value
        if net is not None:
            self._restore_net(est, *net, where)
        return est

    @staticmethod
    def _restore_net(est, name, state, where):
        from jetad.detectors import BaseNeuralDetector

        if name != "net_" or not isinstance(est, BaseNeuralDetector):
            raise ValueError(f"{where}.{name}: a skorch net belongs to a neural detector's net_")
        try:
            est._restore_net(state.module, state.history, state.device)
        except RuntimeError as exc:  # load_state_dict: missing keys or shape mismatch
            raise ValueError(f"{where}.net_: the saved weights do not fit the network that "
                             f"the parameters build: {exc}") from None

    _handlers = {"float": _float, "tuple": _tuple, "dict": _dict, "scalar": _scalar,
                 "dtype": _dtype, "ndarray": _ndarray, "tensor": _tensor,
                 "strarray": _strarray, "random_state": _random_state, "skorch_net": _net,
                 "torch_device": _torch_device, "torch_optimizer": _torch_optimizer,
                 "object": _object, "estimator": lambda self, node, where:
                 self.estimator(node, where)}
