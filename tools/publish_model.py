#!/usr/bin/env python
"""Turn a training output folder into a model-zoo release artifact (Detectron2 style).

    python tools/publish_model.py output/quickstart --name quickstart/levelset_rcnn_R_18_FPN_shapes \
        --config-file configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml [--install] [--opts KEY VALUE ...]
    python tools/publish_model.py output/my_run            # the run's config.yaml and log are used

Writes into ``--output-dir`` (default ``<folder>/release``) the checkpoint ``model_final_<sha256[:8]>.pth``
(``{"model": state_dict, "config": <resolved config>}``, no optimizer state), ``config.yaml`` (MODEL.WEIGHTS
cleared), ``metrics.json`` (from ``--metrics FILE``, else ``summary.json``, else ``metrics.json``, else the
``copypaste`` lines of ``log.txt``) and ``model_zoo_entry.json``, so that ``model_zoo.get(<that folder>)`` loads it;
prints the MODEL_ZOO.md row and the entry to paste into levelset_rcnn/model_zoo/model_zoo.json. ``--install`` also
copies the checkpoint into the user cache, where ``model_zoo.get(name)`` finds it once ``model_zoo.json``'s row
records its sha256 (a NOTE line says when it does not yet). On another machine, ``python -m levelset_rcnn.model_zoo
install NAME FILE`` installs a fetched checkpoint. The logic is :mod:`levelset_rcnn.model_zoo.publish`.
"""
import argparse
import os
import sys

import levelset_rcnn  # noqa: F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.model_zoo.publish import PublishError, format_report, publish


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="training output folder (model_final.pth, config.yaml or --config-file, "
                                       "evaluation results)")
    parser.add_argument("--name", help="model zoo name (default: the folder's name)")
    parser.add_argument("--config-file", help="config of the run when the folder has no config.yaml")
    parser.add_argument("--metrics", help="JSON file with {task: {metric: value}} (default: found in the folder)")
    parser.add_argument("--checkpoint", help="checkpoint in the folder (default model_final.pth)")
    parser.add_argument("--output-dir", help="release folder (default <folder>/release)")
    parser.add_argument("--install", action="store_true", help="also copy the checkpoint into the user cache")
    parser.add_argument("--produced-by", help="command that trains the model (stored in the table row)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides for --config-file (last argument)")
    args = parser.parse_args(argv)
    try:
        entry = publish(args.folder, args.name, args.config_file, args.opts, args.metrics, args.checkpoint,
                        args.output_dir, args.install, args.produced_by,
                        config_name=os.path.relpath(args.config_file, "configs") if args.config_file else None,
                        entry_opts=args.opts)
    except PublishError as e:
        print(f"publish_model: error: {e}", file=sys.stderr)
        return 2
    print(format_report(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
