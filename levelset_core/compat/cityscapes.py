"""cityscapesscripts on both detectron2 versions.

* :func:`ensure_cityscapesscripts_alias` fixes a defect of the *official* detectron2 main (not of v0.6): its
  ``data/datasets/cityscapes.py`` and ``evaluation/cityscapes_evaluation.py`` import
  ``deeplearning.projects.cityscapesApi.cityscapesscripts...``, a path that exists only inside its authors'
  tree; v0.6 imports the public ``cityscapesscripts`` package. The alias makes that path resolve to the
  installed ``cityscapesscripts`` (the very same module objects), so detectron2's Cityscapes loaders and
  evaluators work on both versions. :func:`levelset_core.compat.install` installs it.
* :func:`cityscapesscripts_numpy2_fixes`: cityscapesscripts 2.3.0 (the newest) fails on the numpy 2.4 that
  official detectron2 main installs, twice: it calls ``np.in1d`` (removed in numpy 2.4), and it writes
  ``matches.json`` with ``json.dumps(default=lambda o: o.__dict__)``, which fails on the numpy integer scalars
  its counts now are. Within the context, its evaluation module sees a numpy that still has ``in1d``
  (``np.isin`` of the flattened array, exactly ``in1d``'s result) and a ``writeDict2JSON`` that writes numpy
  scalars / arrays as numbers / lists; numpy and cityscapesscripts are left as they were afterwards.
"""
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys

__all__ = ["CITYSCAPES_ALIAS", "ensure_cityscapesscripts_alias", "cityscapesscripts_numpy2_fixes"]


#: The import path of cityscapesscripts in official detectron2 main (its authors' internal tree).
CITYSCAPES_ALIAS = "deeplearning.projects.cityscapesApi.cityscapesscripts"
_CITYSCAPES_ALIAS_PARENTS = ("deeplearning", "deeplearning.projects", "deeplearning.projects.cityscapesApi")


class _CityscapesScriptsAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``deeplearning.projects.cityscapesApi.cityscapesscripts[.X]`` as ``cityscapesscripts[.X]``.

    The three parent packages are empty placeholder packages; every module below the alias *is* the
    installed ``cityscapesscripts`` module (same object, so module state such as
    ``evalInstanceLevelSemanticLabeling.args`` is shared, nothing is imported twice). It sits first in
    ``sys.meta_path`` so that the path finder does not load a second copy of a submodule under the alias
    name; :func:`ensure_cityscapesscripts_alias` installs it only when no real ``deeplearning`` package exists.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _CITYSCAPES_ALIAS_PARENTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        if fullname != CITYSCAPES_ALIAS and not fullname.startswith(CITYSCAPES_ALIAS + "."):
            return None
        real_name = "cityscapesscripts" + fullname[len(CITYSCAPES_ALIAS):]
        try:
            real = importlib.import_module(real_name)
        except ModuleNotFoundError as e:
            missing = e.name or ""
            if real_name == missing or real_name.startswith(missing + "."):  # the target (or its package) is missing
                how = "pip install cityscapesscripts" if missing == "cityscapesscripts" else "no such module"
                raise ModuleNotFoundError(
                    f"detectron2 imports {fullname}, which levelset_rcnn maps to {real_name}, but {missing} "
                    f"cannot be found ({how})",
                    name=fullname,
                ) from e
            raise
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=hasattr(real, "__path__"))
        spec.levelset_rcnn_target = real
        return spec

    def create_module(self, spec):
        # None: a fresh, empty placeholder package (the three parents)
        return getattr(spec, "levelset_rcnn_target", None)

    def exec_module(self, module):
        pass  # placeholders stay empty; aliased modules are already executed


def ensure_cityscapesscripts_alias():
    """Make official detectron2 main's ``deeplearning.projects.cityscapesApi.cityscapesscripts`` imports work.

    Installs :class:`_CityscapesScriptsAlias` at the front of ``sys.meta_path`` unless it is already there or a
    real ``deeplearning`` package is importable (then that one is left to answer). Idempotent; harmless on
    detectron2 v0.6, which imports ``cityscapesscripts`` directly. Returns True when the alias is active.
    :func:`levelset_core.compat.install` calls it.
    """
    if any(isinstance(f, _CityscapesScriptsAlias) for f in sys.meta_path):
        return True
    if "deeplearning" in sys.modules or importlib.util.find_spec("deeplearning") is not None:
        return False
    sys.meta_path.insert(0, _CityscapesScriptsAlias())
    return True


class _NumpyWithIn1d:
    """numpy as seen by cityscapesscripts' evaluation modules on numpy >= 2.4: every attribute is numpy's, plus
    ``in1d`` (removed in numpy 2.4), defined as numpy < 2.4 defined it: ``isin`` of the flattened first array."""

    def __getattr__(self, name):
        import numpy as np

        return getattr(np, name)

    @staticmethod
    def in1d(ar1, ar2, assume_unique=False, invert=False):
        import numpy as np

        return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert)


def _json_default(o):
    """``json.dumps`` default of cityscapesscripts' ``writeDict2JSON`` (``o.__dict__``), numpy values included."""
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return o.__dict__


def _write_dict_to_json(dict_name, file_name):
    """cityscapesscripts' ``helpers.csHelpers.writeDict2JSON`` that also writes numpy scalars and arrays."""
    with open(file_name, "w") as f:
        f.write(json.dumps(dict_name, default=_json_default, sort_keys=True, indent=4))


@contextlib.contextmanager
def cityscapesscripts_numpy2_fixes(module):
    """Within the block, cityscapesscripts' evaluation ``module`` runs on numpy 2.4 (see the module docstring):
    ``module.np`` has ``in1d`` (only when numpy lacks it) and ``module.writeDict2JSON`` handles numpy values.
    Both are restored afterwards."""
    import numpy as np

    saved = {name: getattr(module, name) for name in ("np", "writeDict2JSON") if hasattr(module, name)}
    if not hasattr(np, "in1d") and saved.get("np") is np:
        module.np = _NumpyWithIn1d()
    if "writeDict2JSON" in saved:
        module.writeDict2JSON = _write_dict_to_json
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
