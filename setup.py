#!/usr/bin/env python
"""LevelSet R-CNN: a Detectron2 extension for deep level-set instance segmentation.

torch, torchvision and detectron2 are prerequisites that pip cannot resolve by itself (detectron2 is
installed from source); ``scripts/setup_env.sh`` / ``tools/install_detectron2.py`` install them.
"""
from setuptools import find_packages, setup

setup(
    name="levelset_rcnn",
    version="0.1.0",
    description="LevelSet R-CNN (Homayounfar et al., ECCV 2020) as a Detectron2 extension",
    packages=find_packages(include=["levelset_rcnn", "levelset_rcnn.*"]),
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
    ],
    extras_require={
        # reference evaluators for LVIS and Cityscapes
        "eval": ["lvis", "cityscapesscripts"],
        "test": ["pytest>=7", "pytest-timeout", "lvis", "cityscapesscripts"],
    },
    include_package_data=True,
)
