"""Training infrastructure shared by both projects.

* :func:`build_config` (:mod:`.config`): ``get_cfg()`` + project keys + YAML + overrides + CUDA → CPU fallback;
* :class:`DeviceAgnosticTrainer`, :class:`CPUAMPTrainer`, :func:`build_step_trainer`, :func:`create_ddp_model`
  (:mod:`.trainer`, random states of a resume in :mod:`.rng`);
* :func:`launch` (:mod:`.launcher`): detectron2's launch on GPUs, gloo CPU worker processes otherwise;
* :func:`add_eval_only_arguments`, :func:`check_eval_only_weights`, :func:`load_eval_weights` (:mod:`.cli`).

Names are imported on first use: ``from levelset_core.engine import build_config`` needs only
``detectron2.config``; the trainer (``detectron2.engine``) must come after :func:`levelset_core.compat.install`.
"""
import importlib

_EXPORTS = {
    "build_config": "config",
    "DeviceAgnosticTrainer": "trainer",
    "CPUAMPTrainer": "trainer",
    "build_step_trainer": "trainer",
    "create_ddp_model": "trainer",
    "launch": "launcher",
    "resolve_backend": "launcher",
    "add_eval_only_arguments": "cli",
    "check_eval_only_weights": "cli",
    "load_eval_weights": "cli",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
