"""levelset_core is side-effect free: importing it, or any of its modules, registers nothing in detectron2's registries,
DatasetCatalog or PathManager and patches nothing (no ``detectron2._C`` stand-in, no import hook) until
``levelset_core.compat.install()`` is called. Checked in a fresh interpreter (this test process has imported
levelset_rcnn already)."""
import json
import subprocess
import sys
import textwrap

from repo_paths import REPO_ROOT

#: modules that need only detectron2's pure-Python parts: importable before ``install()`` on every detectron2
LIGHT = [
    "levelset_core", "levelset_core.compat", "levelset_core.compat.ops", "levelset_core.compat.cityscapes",
    "levelset_core.compat.evaluation", "levelset_core.compat.export", "levelset_core.compat.detectron2_installer",
    "levelset_core.compat.engine", "levelset_core.engine", "levelset_core.engine.config", "levelset_core.layers",
    "levelset_core.layers.level_set", "levelset_core.data", "levelset_core.data.shapes", "levelset_core.data.cache",
    "levelset_core.data.roots",
]

SCRIPT = textwrap.dedent('''
    import importlib, json, pkgutil, sys
    import detectron2
    import levelset_core

    light = json.loads(sys.argv[1])
    c_before = sys.modules.get("detectron2._C")
    hooks_before = list(sys.meta_path)
    for name in light:
        importlib.import_module(name)
    out = {"c_untouched": sys.modules.get("detectron2._C") is c_before, "hooks_untouched": sys.meta_path == hooks_before}

    from levelset_core import compat
    out["fallback"] = compat.install()
    out["fallback_again"] = compat.install()  # idempotent
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import (BACKBONE_REGISTRY, META_ARCH_REGISTRY, PROPOSAL_GENERATOR_REGISTRY,
                                     ROI_HEADS_REGISTRY, SEM_SEG_HEADS_REGISTRY)
    from detectron2.modeling.roi_heads import ROI_BOX_HEAD_REGISTRY, ROI_MASK_HEAD_REGISTRY
    from detectron2.utils.file_io import PathManager
    import detectron2.engine, detectron2.evaluation, detectron2.checkpoint  # noqa: E401

    registries = [BACKBONE_REGISTRY, META_ARCH_REGISTRY, PROPOSAL_GENERATOR_REGISTRY, ROI_HEADS_REGISTRY,
                  SEM_SEG_HEADS_REGISTRY, ROI_BOX_HEAD_REGISTRY, ROI_MASK_HEAD_REGISTRY]

    def snapshot():
        return {"registries": [sorted(r._obj_map) for r in registries], "datasets": sorted(DatasetCatalog.list()),
                "paths": sorted(getattr(PathManager, "_path_handlers", {}))}

    before = snapshot()
    every = sorted(m.name for m in pkgutil.walk_packages(levelset_core.__path__, "levelset_core."))
    for name in every:
        importlib.import_module(name)
    out["every"] = every
    out["registrations_untouched"] = snapshot() == before
    out["projects"] = sorted(m for m in sys.modules if m.split(".")[0] in ("levelset_rcnn", "deeplab_losses"))

    from levelset_core.backbone import register_efficientnet_lite
    register_efficientnet_lite()
    register_efficientnet_lite()  # idempotent
    out["backbones"] = sorted(set(snapshot()["registries"][0]) - set(before["registries"][0]))
    print(json.dumps(out))
''')


def test_importing_levelset_core_changes_nothing_until_install(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(LIGHT)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["c_untouched"] and out["hooks_untouched"]
    assert out["fallback"] == out["fallback_again"]
    assert out["registrations_untouched"]
    assert out["projects"] == []
    assert set(LIGHT) - {"levelset_core"} <= set(out["every"])
    assert out["backbones"] == ["build_efficientnet_lite_backbone", "build_efficientnet_lite_fpn_backbone"]


def test_every_module_of_levelset_core_is_checked():
    """A new module of levelset_core is imported by the test above (it walks the package); this keeps the list of
    modules importable before install() honest: none of them may import detectron2.modeling / .layers."""
    assert (REPO_ROOT / "levelset_core" / "compat" / "__init__.py").is_file()
    for name in LIGHT:
        path = REPO_ROOT / (name.replace(".", "/") + ".py")
        package = REPO_ROOT / name.replace(".", "/") / "__init__.py"
        assert path.is_file() or package.is_file(), name
