#!/usr/bin/env python
"""Convert a VIA polygon json (e.g. the balloon dataset) to a COCO instances json.

Example::

    python datasets/convert_via_to_coco.py balloon/train/via_region_data.json \
        -o balloon/annotations/instances_train.json --classes balloon

``file_name`` in the output is relative to ``--image-root`` (default: the VIA json's folder).
"""
import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("via_json", help="the VIA json file")
    parser.add_argument("-o", "--output", default=None,
                        help="output COCO json (default: <via json folder>/instances_coco.json)")
    parser.add_argument("--image-root", default=None, help="folder of the images (default: the VIA json's folder)")
    parser.add_argument("--classes", default="balloon", help="comma-separated class names (default: balloon)")
    parser.add_argument("--class-key", default=None,
                        help="region_attributes key holding each region's class name (needed for several classes)")
    args = parser.parse_args(argv)

    try:
        from levelset_rcnn.data.via import convert_via_to_coco
    except ImportError:  # run from a checkout without installing the package
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from levelset_rcnn.data.via import convert_via_to_coco

    class_names = [c.strip() for c in args.classes.split(",") if c.strip()]
    output = convert_via_to_coco(args.via_json, args.image_root, args.output, class_names, args.class_key)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
