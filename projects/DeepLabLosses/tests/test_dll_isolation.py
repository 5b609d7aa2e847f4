"""The semantic-segmentation project imports only the shared core (levelset_core), never LevelSet R-CNN: importing
deeplab_losses registers no LevelSet R-CNN head, meta-architecture or dataset. Checked in a fresh interpreter (the
test session imports levelset_rcnn for the other suites)."""
import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import deeplab_losses  # noqa: F401
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import (BACKBONE_REGISTRY, META_ARCH_REGISTRY, PROPOSAL_GENERATOR_REGISTRY,
                                     ROI_HEADS_REGISTRY, SEM_SEG_HEADS_REGISTRY)
    from detectron2.modeling.roi_heads import ROI_BOX_HEAD_REGISTRY, ROI_MASK_HEAD_REGISTRY

    registries = {r._name: r for r in (BACKBONE_REGISTRY, META_ARCH_REGISTRY, PROPOSAL_GENERATOR_REGISTRY,
                                        ROI_HEADS_REGISTRY, SEM_SEG_HEADS_REGISTRY, ROI_BOX_HEAD_REGISTRY,
                                        ROI_MASK_HEAD_REGISTRY)}
    print(json.dumps({
        "modules": sorted(m for m in sys.modules if m == "levelset_rcnn" or m.startswith("levelset_rcnn.")),
        "registered": {name: sorted(r._obj_map) for name, r in registries.items()},
        "from_levelset_rcnn": sorted(f"{name}:{key}" for name, r in registries.items() for key, obj in r._obj_map.items()
                                     if getattr(obj, "__module__", "").startswith("levelset_rcnn")),
        "datasets": sorted(DatasetCatalog.list()),
    }))
''')

LEVELSET_HEADS = ("LevelSetROIHeads", "TSDFMaskHead", "LevelSetMaskHead")
#: prefixes of the datasets levelset_rcnn.data registers (levelset_rcnn/data/builtin.py, synthetic_shapes.py)
LEVELSET_DATASET_PREFIXES = ("levelset_shapes_", "shapes_", "balloon", "coco_tiny")


def test_importing_deeplab_losses_registers_nothing_of_levelset_rcnn(tmp_path, dll_project_root):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(dll_project_root)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["modules"] == []
    assert out["from_levelset_rcnn"] == []
    for head in LEVELSET_HEADS:
        assert head not in out["registered"]["ROI_HEADS"] and head not in out["registered"]["ROI_MASK_HEAD"]
    assert "LevelSetRCNN" not in out["registered"]["META_ARCH"]
    assert [d for d in out["datasets"] if d.startswith(LEVELSET_DATASET_PREFIXES)] == []
    # what the project does register
    assert {"DeepLabV3LossesHead", "DeepLabV3PlusLossesHead"} <= set(out["registered"]["SEM_SEG_HEADS"])
    assert {"build_small_resnet_deeplab_backbone", "build_efficientnet_lite_backbone"} <= set(out["registered"]["BACKBONE"])
    assert "dll_shapes_sem_train" in out["datasets"]
