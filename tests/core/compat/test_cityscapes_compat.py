"""cityscapesscripts on both detectron2 versions (:mod:`levelset_core.compat.cityscapes`): the import alias of
official detectron2 main and the numpy 2.4 fixes."""
import json
import sys

import numpy as np
import pytest

import levelset_rcnn  # noqa: F401  (calls levelset_core.compat.install())
from levelset_core.compat import cityscapes as _compat


# --------------------------------------------------------------------------------------------------------
# deeplearning.projects.cityscapesApi.cityscapesscripts (official detectron2 main) -> cityscapesscripts
# --------------------------------------------------------------------------------------------------------
def test_cityscapesscripts_alias_is_the_installed_package():
    """Regression: official detectron2 main's Cityscapes loader and evaluator import cityscapesscripts as
    ``deeplearning.projects.cityscapesApi.cityscapesscripts``; after ``levelset_core.compat.install()`` that path is the
    installed cityscapesscripts itself (same module objects, so no module is loaded twice)."""
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as real_eval
    import cityscapesscripts.helpers.labels as real_labels
    import deeplearning.projects.cityscapesApi.cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as eval_
    from deeplearning.projects.cityscapesApi.cityscapesscripts.helpers.labels import labels, name2label

    assert eval_ is real_eval
    assert labels is real_labels.labels and name2label is real_labels.name2label
    assert sys.modules[_compat.CITYSCAPES_ALIAS + ".helpers"] is sys.modules["cityscapesscripts.helpers"]
    assert _compat.ensure_cityscapesscripts_alias() is True  # idempotent
    assert sum(isinstance(f, _compat._CityscapesScriptsAlias) for f in sys.meta_path) == 1
    # both detectron2 versions' Cityscapes code imports now
    from detectron2.data.datasets import cityscapes

    assert callable(cityscapes.load_cityscapes_instances)


def test_cityscapesscripts_alias_errors_name_the_module():
    with pytest.raises(ModuleNotFoundError, match=r"cityscapesscripts\.no_such_module"):
        import deeplearning.projects.cityscapesApi.cityscapesscripts.no_such_module  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match="deeplearning.something_else"):
        import deeplearning.something_else  # noqa: F401


def test_cityscapesscripts_alias_yields_to_a_real_deeplearning_package(monkeypatch):
    """Where a real ``deeplearning`` package exists (detectron2's authors' tree), it is left to answer."""
    import types

    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, _compat._CityscapesScriptsAlias)])
    monkeypatch.setitem(sys.modules, "deeplearning", types.ModuleType("deeplearning"))
    assert _compat.ensure_cityscapesscripts_alias() is False
    assert not any(isinstance(f, _compat._CityscapesScriptsAlias) for f in sys.meta_path)


def test_cityscapesscripts_numpy2_fixes(tmp_path):
    """Regression (official detectron2 main installs numpy 2.4): cityscapesscripts 2.3.0 calls np.in1d (removed in
    numpy 2.4) and cannot write numpy integers to matches.json; during the evaluation it gets a numpy with in1d
    (numpy < 2.4's semantics) and a JSON writer for numpy values."""
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval

    gt = np.array([[0, 1, 2], [3, 1, 5]])
    expected = np.array([False, True, False, True, True, False])
    shim = _compat._NumpyWithIn1d()
    assert np.array_equal(shim.in1d(gt, [1, 3]), expected)
    assert np.array_equal(shim.in1d(gt, [1, 3], invert=True), ~expected)
    assert shim.isin is np.isin and shim.uint16 is np.uint16
    if hasattr(np, "in1d"):
        assert np.array_equal(np.in1d(gt, [1, 3]), expected)
    write = cs_eval.writeDict2JSON
    with _compat.cityscapesscripts_numpy2_fixes(cs_eval):
        assert np.array_equal(cs_eval.np.in1d(gt, [1, 3]), expected)
        # matches.json: cityscapesscripts' counts are numpy integers on numpy 2
        path = tmp_path / "matches.json"
        cs_eval.writeDict2JSON({"a": {"n": np.int64(2400), "v": np.arange(2)}, "s": "x"}, str(path))
        assert json.loads(path.read_text()) == {"a": {"n": 2400, "v": [0, 1]}, "s": "x"}
    assert cs_eval.np is np and cs_eval.writeDict2JSON is write  # restored
