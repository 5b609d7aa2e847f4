#!/usr/bin/env python
"""Train two (or more) models the same way on one dataset, evaluate them, write a markdown table.

The models are config files (``--model NAME=CONFIG``, repeatable). By default: the CPU quickstart pair
(``configs/quickstart/{mask,levelset}_rcnn_R_18_FPN_shapes.yaml``: ResNet-18-FPN with GroupNorm, from scratch).
Every model gets the same dataset, seeds and, where given on the command line, the same input size and schedule
(``--iters``, ``--min-size``, ...; without them each config's own schedule is used, so give configs that share it,
e.g. ``configs/balloon/{mask,levelset}_rcnn_lite0_FPN.yaml``). Each (model, seed) run trains with
``levelset_rcnn.engine.Trainer`` and is then evaluated on the test dataset with the project's evaluators: COCO box /
mask AP (and the initial-mask AP H(phi_0) of LevelSet R-CNN, "segm_initial"), Boundary AP (faster-coco-eval) and
AF1 / AF2.

    # the ImageNet-pretrained EfficientNet-Lite0 pair on balloon, with their own schedule, 2 seeds
    python tools/compare_models.py --train balloon_train --test balloon_val --seeds 1 2 \\
        --model "Mask R-CNN=configs/balloon/mask_rcnn_lite0_FPN.yaml" \\
        --model "LevelSet R-CNN=configs/balloon/levelset_rcnn_lite0_FPN.yaml" --output output/compare/balloon_lite0
    # the nuclei triple (detectron2's PointRend as the third model; configs/balloon has the same three)
    python tools/compare_models.py --train nuclei_dsb2018_train --test nuclei_dsb2018_val --seeds 1 2 3 \\
        --model "Mask R-CNN=configs/nuclei/mask_rcnn_lite0_FPN.yaml" \\
        --model "PointRend=configs/nuclei/pointrend_rcnn_lite0_FPN.yaml" \\
        --model "LevelSet R-CNN=configs/nuclei/levelset_rcnn_lite0_FPN.yaml" --output output/compare/nuclei_lite0
    # any COCO- or VIA-format folder (registered as PREFIX_<split>), the quickstart pair at shorter side 320
    python tools/compare_models.py --dataset-folder balloon=../shared/datasets/balloon \\
        --train balloon_train --test balloon_val --seeds 1 2 --iters 300 --min-size 320 --max-size 512 \\
        --output output/compare/balloon
    # smoke test: a few iterations, one seed
    python tools/compare_models.py --smoke --train levelset_shapes_train --test levelset_shapes_val

Every model gets the training set's class count (``MODEL.ROI_HEADS.NUM_CLASSES``, and PointRend's
``MODEL.POINT_HEAD.NUM_CLASSES``) and mask format (``--mask-format``; by default the dataset's, e.g. bitmask for
nuclei's RLE, else polygon, except bitmask for PointRend, which needs it). Extra ``KEY VALUE`` arguments at the end are
config overrides applied to every model. Every run writes
``<output>/<name>_seed<k>/comparison_metrics.json`` (with its ``config.yaml`` and log) and keeps it; a run whose
comparison_metrics.json exists is not redone (delete it, or pass ``--force``), so seeds can run as separate
processes side by side and a last call with all seeds writes the table. The table goes to
``<output>/comparison.md`` (mean +- sample std over seeds, and per seed). Timing columns are wall-clock on the
machine that ran it: median seconds per training iteration (data loading included) and mean seconds per test
image of the model's forward pass (first image excluded). The logic is :mod:`levelset_rcnn.engine.compare`.
"""

import levelset_rcnn  # noqa: F401  (first: registers heads, datasets and detectron2._C when missing)
from levelset_rcnn.engine.compare import compare_models, parse_args


def main(argv=None):
    return compare_models(parse_args(argv, description=__doc__))


if __name__ == "__main__":
    main()
