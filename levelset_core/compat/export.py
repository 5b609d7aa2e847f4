"""detectron2's ``detectron2.export`` submodules on both versions.

detectron2 v0.6's ``detectron2/export/__init__.py`` imports caffe2 (no longer part of PyTorch), so
``import detectron2.export.flatten`` fails there; :func:`import_export_module` then imports the submodule without
the package's ``__init__`` (an empty ``detectron2.export`` package object is put in ``sys.modules``). On detectron2
main it is a plain import.
"""
import importlib
import importlib.util
import os
import sys
import types

__all__ = ["import_export_module"]


def import_export_module(name):
    """Import and return ``detectron2.export.<name>`` (e.g. ``"flatten"``, ``"torchscript_patch"``)."""
    try:
        return importlib.import_module(f"detectron2.export.{name}")
    except ImportError as e:
        if "caffe2" not in str(e):
            raise
    spec = importlib.util.find_spec("detectron2")
    package = types.ModuleType("detectron2.export")
    package.__path__ = [os.path.join(os.path.dirname(spec.origin), "export")]
    sys.modules["detectron2.export"] = package
    return importlib.import_module(f"detectron2.export.{name}")
