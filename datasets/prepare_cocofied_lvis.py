#!/usr/bin/env python
"""Build the "cocofied" LVIS annotations (LVIS val restricted to the 80 COCO categories; LevelSet R-CNN's LVIS AP*,
Table 2), registered by detectron2 as ``lvis_v0.5_val_cocofied``. The logic and the category mapping are
:mod:`levelset_rcnn.data.lvis_cocofied`.

    python datasets/prepare_cocofied_lvis.py                # $DETECTRON2_DATASETS/lvis/lvis_v0.5_val.json
    python datasets/prepare_cocofied_lvis.py --lvis-json lvis/lvis_v0.5_train.json   # -> ..._train_cocofied.json
    python datasets/prepare_cocofied_lvis.py --lvis-json X.json --coco-json coco/annotations/instances_val2017.json -o Y.json
"""
import sys

import levelset_rcnn  # noqa: F401  (first: detectron2's stand-in compiled ops when missing)
from levelset_rcnn.data.lvis_cocofied import main

if __name__ == "__main__":
    sys.exit(0 if main(description=__doc__) else 1)
