#!/usr/bin/env python
"""Export LevelSet R-CNN to TorchScript by tracing (detectron2's TracingAdapter) and check it against eager.

    python tools/export_model.py --model quickstart/levelset_rcnn_R_18_FPN_shapes --output out/export \
        [--sample-image img.png] [--check-images a.png b.png] [--levelsets]
    python tools/export_model.py --config-file CONFIG --output out/export --opts MODEL.WEIGHTS model_final.pth

Writes ``<output>/model.ts`` and ``model.ts.json`` (output field names, input format and test sizes).
Load with ``levelset_rcnn.utils.export.ExportedModel("model.ts")``: it takes one ``(3, H, W)`` float image,
resized with ``ResizeShortestEdge(min_size_test, max_size_test)`` and in ``input_format``, and returns
Instances like the eager model. After exporting, the traced and eager outputs are compared on the sample image
and the ``--check-images`` (default: the sample image and the next two images of the sample's folder) and the
largest differences are printed; the command fails if any field differs by more than ``--atol``.
A trace fixes the device, one image per call and the config values (see levelset_rcnn/utils/export.py).
The logic is :mod:`levelset_rcnn.utils.export_model`.
"""
import argparse
import sys

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.utils.export_model import ExportError, export_model


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="model zoo name or release folder (tools/publish_model.py)")
    model.add_argument("--config-file", help="config file; weights via --opts MODEL.WEIGHTS FILE")
    parser.add_argument("--checkpoint", help="with --model: a local checkpoint file (sha256-verified)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--format", default="torchscript", choices=["torchscript"],
                        help="export format (TorchScript tracing; see MODEL_ZOO.md for ONNX)")
    parser.add_argument("--sample-image", help="image to trace on (default: the first val image of the built-in "
                                               "levelset_shapes dataset)")
    parser.add_argument("--check-images", nargs="*", help="images to compare traced vs eager on")
    parser.add_argument("--levelsets", action="store_true",
                        help="also export pred_levelsets (φ0 … φN) for level-set pictures / polygons")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed traced - eager difference")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE config overrides (last)")
    return parser


def main(argv=None):
    args = vars(get_parser().parse_args(argv))
    atol = args.pop("atol")
    try:
        _, worst, checks = export_model(**args)
    except (ExportError, FileNotFoundError) as e:
        raise SystemExit(f"export_model: {e}") from None
    if worst > atol:
        print(f"export_model: traced outputs differ from eager by {worst:.3g} > --atol {atol}", file=sys.stderr)
        return 1
    print(f"traced == eager within {atol} on {checks} image(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
