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
"""
import argparse
import glob
import os
import sys

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from levelset_rcnn.checkpoint import LevelSetCheckpointer
from levelset_rcnn.data.mapper import read_image
from levelset_rcnn.utils.export import ExportedModel, save_exported, trace_model


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


def load_cfg_and_model(args):
    from detectron2.config import get_cfg
    from levelset_rcnn import add_levelset_rcnn_config, model_zoo

    if args.model:
        cfg = model_zoo.get_config(args.model, trained=True, checkpoint=args.checkpoint)
    else:
        if not os.path.isfile(args.config_file):
            raise SystemExit(f"export_model: config file not found: {args.config_file}")
        cfg = get_cfg()
        add_levelset_rcnn_config(cfg)
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        LevelSetCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    if args.levelsets:
        model.roi_heads.inference_levelsets = True
    return cfg, model


def prepare_image(cfg, path):
    """``(image (3, H', W') float tensor, H, W)``: read, converted to cfg.INPUT.FORMAT, resized for testing."""
    image = read_image(path, format=cfg.INPUT.FORMAT)
    height, width = image.shape[:2]
    resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    image = resize.get_transform(image).apply_image(image)
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32")), height, width


def compare(model, exported, image, height, width):
    """``{field: max |traced - eager|}`` after post-processing (inf when the shapes differ)."""
    with torch.no_grad():
        eager = model([{"image": image, "height": height, "width": width}])[0]["instances"]
    traced = exported(image, height, width)
    diffs = {"num_instances": float(abs(len(eager) - len(traced)))}
    for name in sorted(eager.get_fields()):
        a, b = eager.get(name), traced.get(name) if traced.has(name) else None
        a = a.tensor if isinstance(a, type(eager.pred_boxes)) else a
        b = b.tensor if b is not None and hasattr(b, "tensor") else b
        if b is None or a.shape != b.shape:
            diffs[name] = float("inf")
        else:
            diffs[name] = float((a.float() - b.float()).abs().max()) if a.numel() else 0.0
    return diffs, len(eager)


def default_sample_image():
    """The second val image of the built-in levelset_shapes dataset (generated on first use)."""
    from detectron2.data import DatasetCatalog

    records = DatasetCatalog.get("levelset_shapes_val")
    return records[1]["file_name"]


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg, model = load_cfg_and_model(args)
    sample = args.sample_image or default_sample_image()
    if not os.path.isfile(sample):
        raise SystemExit(f"export_model: sample image not found: {sample}")
    image, _, _ = prepare_image(cfg, sample)
    try:
        traced, fields = trace_model(model, image)
    except ValueError as e:
        raise SystemExit(f"export_model: {e}") from None
    path = save_exported(traced, fields, os.path.join(args.output, "model.ts"), cfg.INPUT.FORMAT,
                         cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    print(f"exported {path} (fields: {', '.join(fields)})")

    exported = ExportedModel(path)
    checks = args.check_images
    if checks is None:
        folder = sorted(glob.glob(os.path.join(os.path.dirname(sample), "*" + os.path.splitext(sample)[1])))
        i = folder.index(sample) if sample in folder else 0
        checks = folder[i:i + 3] or [sample]
    worst = 0.0
    for check in checks:
        img, h, w = prepare_image(cfg, check)
        diffs, n = compare(model, exported, img, h, w)
        worst = max([worst] + list(diffs.values()))
        print(f"{check}: {n} instances; max |traced - eager|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    if worst > args.atol:
        print(f"export_model: traced outputs differ from eager by {worst:.3g} > --atol {args.atol}", file=sys.stderr)
        return 1
    print(f"traced == eager within {args.atol} on {len(checks)} image(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
