"""Checks of config values for the ``from_config`` of the module that reads them (docs/DESIGN.md, "Where each config
key lives").

Each module checks the keys it reads, once, when it is built from a config: the type and the range of the value,
with a ``ValueError`` that names the key and the value, e.g. ``MODEL.LEVELSET.NUM_ITERATIONS = -2: must be >= 1``
(instead of torch's "negative dimension" in some layer). There is no config-wide validation pass: a key that the
built model does not read (e.g. ``FEATURE_HEAD.CONV_DIMS`` with the fine-grained feature head) is not checked.
A module whose ``__init__`` already checks an argument with a message that names its key (the feature heads'
``OUTPUT``) does not check it again in ``from_config``.
"""
import math

__all__ = ["check_bool", "check_int", "check_float", "check_positive_ints", "check_norm", "check_registered",
           "fail"]


def fail(key, value, expected):
    """Raise the ``ValueError`` of a bad config value: ``"<key> = <value!r>: <expected>"``."""
    raise ValueError(f"{key} = {value!r}: {expected}")


def check_bool(key, value):
    """``value`` must be True or False; returns it."""
    if not isinstance(value, bool):
        fail(key, value, "expected True or False")
    return value


def check_int(key, value, minimum):
    """``value`` must be an integer (not a bool) >= ``minimum``; returns it."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(key, value, f"expected an integer >= {minimum}")
    if value < minimum:
        fail(key, value, f"must be >= {minimum}")
    return value


def check_float(key, value, minimum=0.0, strict=True):
    """``value`` must be a finite number > ``minimum`` (``strict``) or >= ``minimum``; returns it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(key, value, "expected a number")
    if not math.isfinite(float(value)):
        fail(key, value, "must be finite")
    if (strict and float(value) <= minimum) or (not strict and float(value) < minimum):
        fail(key, value, f"must be {'>' if strict else '>='} {minimum}")
    return value


def check_positive_ints(key, value, example):
    """``value`` must be a non-empty list / tuple of integers >= 1; returns it as a list."""
    if (not isinstance(value, (list, tuple)) or not value
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in value)):
        fail(key, value, f"expected a non-empty list of positive integers, e.g. {example}")
    return list(value)


def check_norm(key, value):
    """``value`` must be a norm name (detectron2's ``get_norm``: ``""``, ``"GN"``, ``"BN"``, ...); returns it."""
    if not isinstance(value, str):
        fail(key, value, "expected a norm name such as '', 'GN' or 'BN'")
    return value


def check_registered(key, name, registry):
    """``name`` must be registered in the detectron2 ``registry``; returns the registered object."""
    if not isinstance(name, str) or not name or name not in registry:
        fail(key, name, f"not a registered head; available: {sorted(k for k, _ in registry)}")
    return registry.get(name)
