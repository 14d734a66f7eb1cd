"""Declarative parameter constraints for the detectors (a small copy of sklearn's idea).

scikit-learn validates estimator parameters against a ``_parameter_constraints``
dict, but its ``sklearn.utils._param_validation`` is private API. This module
keeps the same idea in a few readable pieces. The detectors declare theirs as
``_param_constraints``: sklearn's estimator checks read an attribute named
``_parameter_constraints`` and expect sklearn's own constraint classes in it
(``check_outlier_contamination`` asserts an sklearn ``Interval``).

A constraint list allows a value when *any* of its constraints is satisfied;
a constraint is

* ``None``: the value ``None``;
* a type (``list``, ``numbers.Integral``, ``np.random.RandomState``): ``isinstance``;
* ``"boolean"``: ``bool`` or ``numpy.bool_``;
* :class:`Interval`, :class:`StrOptions` or :class:`Predicate` instances.

:func:`validate_param_constraints` raises :class:`InvalidParameterError`
naming the parameter, the allowed values and the value got.
"""

import numbers
import operator

import numpy as np

__all__ = ["InvalidParameterError", "Interval", "Predicate", "StrOptions", "check_index",
           "non_negative_float", "positive_float", "positive_int",
           "validate_param_constraints"]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value its constraints do not allow.

    Like sklearn's error of the same name it derives from both ``ValueError``
    and ``TypeError``, so callers catching either keep working.
    """


class Interval:
    """Numbers of a type in an interval; bools and NaN are never inside.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
    left, right : float or None
        Bounds; None is unbounded. An unbounded side never includes infinity,
        so ``Interval(Real, 0, None, closed="neither")`` is the finite positive
        floats.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(self, type, left, right, *, closed):
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def is_satisfied_by(self, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.type):
            return False
        low_ok = operator.le if self.closed in ("left", "both") else operator.lt
        high_ok = operator.le if self.closed in ("right", "both") else operator.lt
        left = -np.inf if self.left is None else self.left
        right = np.inf if self.right is None else self.right
        return bool(low_ok(left, value) and high_ok(value, right))

    def __str__(self):
        kind = "an int" if self.type is numbers.Integral else "a float"
        if self.left is None and self.right is None:
            return kind
        low = "-inf" if self.left is None else self.left
        high = "inf" if self.right is None else self.right
        brackets = {"left": "[)", "right": "(]", "both": "[]", "neither": "()"}[self.closed]
        return f"{kind} in {brackets[0]}{low}, {high}{brackets[1]}"


#: The finite floats > 0, the finite floats >= 0 and the ints >= 1.
positive_float = Interval(numbers.Real, 0, None, closed="neither")
non_negative_float = Interval(numbers.Real, 0, None, closed="left")
positive_int = Interval(numbers.Integral, 1, None, closed="left")


class StrOptions:
    """One of a set of strings.

    Parameters
    ----------
    options : set of str
    """

    def __init__(self, options):
        self.options = frozenset(options)

    def is_satisfied_by(self, value):
        return isinstance(value, str) and value in self.options

    def __str__(self):
        return "one of " + ", ".join(repr(o) for o in sorted(self.options))


class Predicate:
    """Values for which ``func(value)`` is true (for structured values).

    Parameters
    ----------
    func : callable
        Returns a truth value; an exception it raises counts as false.
    description : str
        What the allowed values are, for the error message.
    """

    def __init__(self, func, description):
        self.func, self.description = func, description

    def is_satisfied_by(self, value):
        try:
            return bool(self.func(value))
        except (TypeError, ValueError):
            return False

    def __str__(self):
        return self.description


def _satisfies(value, constraint):
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return constraint.is_satisfied_by(value)


def _describe(constraint):
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "a bool"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__}"
    return str(constraint)


def validate_param_constraints(constraints, params, *, names=None):
    """Check each parameter against its list of constraints.

    Parameters
    ----------
    constraints : dict of str to list
        Allowed values of each parameter (any constraint of the list suffices).
    params : dict of str to object
        The values, e.g. ``estimator.get_params(deep=False)``. Parameters
        without a constraint are not checked.
    names : iterable of str or None, default=None
        Check these parameters only; None checks every constrained one.

    Raises
    ------
    InvalidParameterError
        ``"<name> must be <allowed values>, got <value>"`` for the first
        parameter whose value satisfies none of its constraints.
    """
    for name in constraints if names is None else names:
        if name not in params:
            continue
        value, allowed = params[name], constraints[name]
        if not any(_satisfies(value, c) for c in allowed):
            options = [_describe(c) for c in allowed]
            text = options[0] if len(options) == 1 else (
                ", ".join(options[:-1]) + " or " + options[-1])
            raise InvalidParameterError(f"{name} must be {text}, got {value!r}")


def check_index(name, value, n_items, *, allow_none=False):
    """Check that ``value`` indexes one of ``n_items`` (negative counts from the end).

    For parameters whose range depends on another parameter (or on the fitted
    model), which a per-parameter constraint cannot express. The type is left
    to the declared constraints.

    Raises
    ------
    InvalidParameterError
    """
    if value is None and allow_none:
        return
    if not -n_items <= value < n_items:
        none = "None or " if allow_none else ""
        raise InvalidParameterError(
            f"{name} must be {none}an int in [{-n_items}, {n_items - 1}] for {n_items} "
            f"components, got {value!r}"
        )
