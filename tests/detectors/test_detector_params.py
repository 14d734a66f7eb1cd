"""Parameter validation and scoring state shared by every neural detector."""

import math
import re
from numbers import Integral

import numpy as np
import pytest
import torch

from jetad.detectors import (
    AEDetector,
    DVAEDetector,
    GMVAEDetector,
    LangevinSampler,
    NAEDetector,
    VAEDetector,
)
from jetad.detectors._validation import (
    Interval,
    InvalidParameterError,
    Predicate,
    StrOptions,
    positive_float,
    validate_param_constraints,
)

DETECTORS = [AEDetector, VAEDetector, GMVAEDetector, DVAEDetector, NAEDetector]
# Detectors whose parameters are declared in ``_param_constraints``: all of them.
DECLARATIVE = DETECTORS
FAST = {"max_epochs": 2, "batch_size": 64, "random_state": 0, "device": "cpu"}
NAE_FAST = {"nae_iterations": 3}

BAD_VALUES = [
    ("lr", math.inf), ("lr", 0.0), ("lr", math.nan), ("lr", -1e-3),
    ("latent_dim", 0), ("latent_dim", 2.5),
    ("hidden_dim", 0), ("n_filters", 0),
    ("verbose", "yes"), ("verbose", -1),
    ("beta_kl", -1.0), ("beta_kl", math.inf),
    ("max_epochs", 0), ("max_epochs", 2.5), ("batch_size", 0),
    ("contamination", 0.0), ("contamination", 0.6),
    ("validation_fraction", 0.0), ("validation_fraction", 1.0),
    ("device", "tpu"), ("weight_decay", -1.0), ("weight_decay", math.inf),
    ("warm_start", "no"), ("callbacks", 3), ("early_stopping", -1), ("random_state", -1),
]
def _make(cls, **params):
    extra = dict(NAE_FAST, sampler=LangevinSampler(n_z_steps=2, n_x_steps=2)) if (
        cls is NAEDetector) else {}
    return cls(**{**FAST, **extra, **params})


def _refusal_cases():
    for name, value in BAD_VALUES:
        for cls in DETECTORS:
            if name not in cls._get_param_names():
                continue
            yield pytest.param(cls, name, value, id=f"{cls.__name__}-{name}={value!r}")


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((20, 16)).astype(np.float32)


@pytest.mark.parametrize("cls, name, value", list(_refusal_cases()))
def test_bad_parameter_is_refused_by_fit(cls, name, value, X):
    det = _make(cls, **{name: value})
    pattern = rf"^{name} must be .*, got {re.escape(repr(value))}$"
    with pytest.raises(ValueError, match=pattern):
        det.fit(X)


def test_message_names_parameter_allowed_values_and_value(X):
    with pytest.raises(InvalidParameterError) as info:
        _make(AEDetector, lr=math.inf).fit(X)
    assert str(info.value) == "lr must be a float in (0, inf), got inf"
    with pytest.raises(InvalidParameterError) as info:
        _make(AEDetector, validation_fraction=2).fit(X)
    assert str(info.value) == "validation_fraction must be None or a float in (0, 1), got 2"
    with pytest.raises(InvalidParameterError) as info:
        _make(VAEDetector, score_type="bogus").fit(X)
    assert str(info.value) == ("score_type must be one of 'latent', 'latent_coordinate', "
                               "'reconstruction', got 'bogus'")
    # like sklearn's InvalidParameterError: catching ValueError or TypeError both work
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


@pytest.mark.parametrize("cls", DECLARATIVE)
def test_every_parameter_has_exactly_one_declared_constraint(cls):
    assert set(cls._get_param_constraints()) == set(cls._get_param_names())


@pytest.mark.parametrize("cls", DECLARATIVE)
def test_defaults_satisfy_the_constraints(cls):
    det = cls()
    validate_param_constraints(cls._get_param_constraints(), det.get_params(deep=False))


def test_accepted_edge_values(X):
    # values at the edges of the constraints, and the types sklearn users pass
    AEDetector(contamination=0.5, verbose=False, early_stopping=0, callbacks=[],
               random_state=np.random.RandomState(0), lr=np.float32(1e-3),
               max_epochs=np.int64(1), batch_size=64, device="cpu").fit(X)
    DVAEDetector(alpha=[1.0, 0.25], betas=[0.9, 0.99], score_component=np.int64(0),
                 max_epochs=1, device="cpu").fit(X)


class _ScaledAE(AEDetector):
    """An AE with one more parameter and a stricter latent dimension."""

    _param_constraints = {"scale": [positive_float],
                          "latent_dim": [Interval(Integral, 2, 8, closed="both")]}

    def __init__(self, latent_dim=3, *, scale=1.0, max_epochs=2, batch_size=64, lr=1e-3,
                 device="cpu", random_state=0):
        super().__init__(latent_dim, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
                         device=device, random_state=random_state)
        self.scale = scale


def test_subclass_constraints_are_merged_over_the_mro(X):
    merged = _ScaledAE._get_param_constraints()
    assert merged["scale"] == [positive_float]
    # the subclass overrides the AE's latent_dim, keeps the AE's and the base's others
    assert merged["latent_dim"] == _ScaledAE._param_constraints["latent_dim"]
    assert merged["spectral_norm"] == AEDetector._param_constraints["spectral_norm"]
    assert "lr" in merged and "lr" not in AEDetector._param_constraints
    # the classes' own dicts are not modified by the merge
    assert "scale" not in AEDetector._get_param_constraints()
    assert AEDetector._get_param_constraints()["latent_dim"][0].left == 1
    with pytest.raises(ValueError, match=r"^scale must be a float in \(0, inf\), got -1\.0$"):
        _ScaledAE(scale=-1.0).fit(X)
    with pytest.raises(ValueError, match=r"^latent_dim must be an int in \[2, 8\], got 1$"):
        _ScaledAE(latent_dim=1).fit(X)
    with pytest.raises(ValueError, match="^lr must be"):
        _ScaledAE(lr=0.0).fit(X)
    _ScaledAE(latent_dim=2).fit(X)


def _module_snapshot(module):
    """Every parameter, buffer and plain attribute of every submodule."""
    tensors = {k: v.detach().clone() for k, v in module.state_dict().items()}
    attrs = {}
    for name, sub in module.named_modules():
        for key, value in vars(sub).items():
            if not key.startswith("_"):
                attrs[(name, key)] = value
    return tensors, attrs


def _assert_same_snapshot(a, b):
    assert a[0].keys() == b[0].keys()
    for key in a[0]:
        assert torch.equal(a[0][key], b[0][key]), key
    assert a[1] == b[1]


@pytest.mark.parametrize("cls, settings", [
    (VAEDetector, [{"score_type": "latent"}, {"score_type": "reconstruction"}]),
    (GMVAEDetector, [{"score_type": "responsibility"}, {"score_component": 0},
                     {"score_type": "reconstruction"}, {"score_type": "latent"}]),
    (DVAEDetector, [{"score_type": "topic_ratio"}, {"score_component": 0},
                    {"score_type": "reconstruction"},
                    {"score_type": "latent", "score_component": -1}]),
])
def test_scoring_does_not_mutate_the_module(cls, settings, X):
    det = _make(cls).fit(X)
    module = det.net_.module_
    before = _module_snapshot(module)
    scores = [det.score_samples(X)]
    for params in settings:
        det.set_params(**params)
        scores.append(det.score_samples(X))
        _assert_same_snapshot(before, _module_snapshot(module))
    assert not hasattr(module, "score_type") and not hasattr(module, "score_component")
    # the score parameters do change the scores
    assert all(not np.array_equal(scores[0], s) for s in scores[1:-1])
    np.testing.assert_array_equal(scores[0], scores[-1])


@pytest.mark.parametrize("cls", [VAEDetector, GMVAEDetector, DVAEDetector])
def test_score_type_changed_after_fit_is_validated_when_scoring(cls, X):
    det = _make(cls).fit(X)
    det.set_params(score_type="bogus")
    with pytest.raises(ValueError, match="^score_type must be one of"):
        det.score_samples(X)
    with pytest.raises(ValueError, match="^score_type must be one of"):
        det.predict(X)


# ------------------------------------------------------------ the constraints
def test_interval_excludes_bools_nan_and_unbounded_infinity():
    real = Interval(float, 0, None, closed="left")
    assert real.is_satisfied_by(0.0) and real.is_satisfied_by(1e300)
    assert not real.is_satisfied_by(math.inf) and not real.is_satisfied_by(math.nan)
    assert not Interval(Integral, 0, None, closed="left").is_satisfied_by(True)
    closed = Interval(float, 0, 1, closed="both")
    assert closed.is_satisfied_by(0.0) and closed.is_satisfied_by(1.0)
    assert not Interval(float, 0, 1, closed="neither").is_satisfied_by(1.0)
    with pytest.raises(ValueError, match="closed"):
        Interval(float, 0, 1, closed="open")


def test_predicate_and_options_and_names():
    constraints = {"a": [StrOptions({"x", "y"}), None],
                   "b": [Predicate(lambda v: len(v) == 2, "a pair")]}
    validate_param_constraints(constraints, {"a": None, "b": (1, 2), "c": object()})
    with pytest.raises(InvalidParameterError, match=r"^a must be one of 'x', 'y' or None, "):
        validate_param_constraints(constraints, {"a": "z", "b": (1, 2)})
    # a predicate raising counts as not satisfied
    with pytest.raises(InvalidParameterError, match=r"^b must be a pair, got 3$"):
        validate_param_constraints(constraints, {"a": "x", "b": 3})
    validate_param_constraints(constraints, {"a": "z", "b": 3}, names=())
