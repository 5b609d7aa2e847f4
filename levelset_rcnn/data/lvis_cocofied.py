"""Build the "cocofied" LVIS annotations: LVIS images and masks restricted to the 80 COCO categories.

The command line is ``datasets/prepare_cocofied_lvis.py`` (:func:`main`); this module holds the logic.

LevelSet R-CNN (section 5, Table 2, "LVIS AP*") evaluates COCO-trained models on LVIS val with only the
categories that COCO also has: LVIS's masks are more precise than COCO's, so the score rewards good boundaries.
detectron2 registers the result as ``lvis_v0.5_val_cocofied`` (``$DETECTRON2_DATASETS/lvis/
lvis_v0.5_val_cocofied.json``, images from ``$DETECTRON2_DATASETS/coco/``) with COCO's metadata, which the
configs in ``configs/LVIS-COCO-categories/`` use.

    python datasets/prepare_cocofied_lvis.py                # $DETECTRON2_DATASETS/lvis/lvis_v0.5_val.json
    python datasets/prepare_cocofied_lvis.py --lvis-json lvis/lvis_v0.5_train.json   # -> ..._train_cocofied.json
    python datasets/prepare_cocofied_lvis.py --lvis-json X.json --coco-json coco/annotations/instances_val2017.json -o Y.json

Mapping. Each COCO category is matched to the LVIS category with the WordNet synset listed in
:data:`COCO_TO_LVIS_SYNSET` (LVIS names its categories by synset; COCO's names are mostly but not always the
synset's lemma: "cow" -> beef.n.01, "hot dog" -> frank.n.02, "potted plant" -> pot.n.04, "handbag" -> bag.n.04,
"suitcase" -> bag.n.06, "hair drier" -> hand_blower.n.01, ...). If the LVIS file has no category with that
synset, the COCO name (spaces as underscores) is looked up among the LVIS names and synonyms. A COCO category
found neither way is reported (and left without annotations; ``--strict`` makes it an error).

Output (an LVIS-format json that ``lvis.LVIS`` and detectron2's ``load_lvis_json`` read):

* ``categories``: the matched COCO categories with their **COCO ids** and COCO names, keeping the LVIS fields
  (``synset``, ``synonyms``, ``frequency``, ...; ``image_count`` / ``instance_count`` recomputed);
* ``annotations``: the LVIS annotations of those categories, ``category_id`` replaced by the COCO id;
* ``images``: all images, ``neg_category_ids`` / ``not_exhaustive_category_ids`` restricted to the matched
  categories and mapped to COCO ids (LVIS's federated evaluation needs them).
"""
import argparse
import json
import logging
import os
from collections import Counter

logger = logging.getLogger("prepare_cocofied_lvis")

#: COCO category name -> WordNet synset of the LVIS category (LVIS v0.5 / v1 name their categories by synset).
COCO_TO_LVIS_SYNSET = {
    "person": "person.n.01", "bicycle": "bicycle.n.01", "car": "car.n.01", "motorcycle": "motorcycle.n.01",
    "airplane": "airplane.n.01", "bus": "bus.n.01", "train": "train.n.01", "truck": "truck.n.01",
    "boat": "boat.n.01", "traffic light": "traffic_light.n.01", "fire hydrant": "fireplug.n.01",
    "stop sign": "street_sign.n.01", "parking meter": "parking_meter.n.01", "bench": "bench.n.01",
    "bird": "bird.n.01", "cat": "cat.n.01", "dog": "dog.n.01", "horse": "horse.n.01", "sheep": "sheep.n.01",
    "cow": "beef.n.01", "elephant": "elephant.n.01", "bear": "bear.n.01", "zebra": "zebra.n.01",
    "giraffe": "giraffe.n.01", "backpack": "backpack.n.01", "umbrella": "umbrella.n.01", "handbag": "bag.n.04",
    "tie": "necktie.n.01", "suitcase": "bag.n.06", "frisbee": "frisbee.n.01", "skis": "ski.n.01",
    "snowboard": "snowboard.n.01", "sports ball": "ball.n.06", "kite": "kite.n.03",
    "baseball bat": "baseball_bat.n.01", "baseball glove": "baseball_glove.n.01", "skateboard": "skateboard.n.01",
    "surfboard": "surfboard.n.01", "tennis racket": "tennis_racket.n.01", "bottle": "bottle.n.01",
    "wine glass": "wineglass.n.01", "cup": "cup.n.01", "fork": "fork.n.01", "knife": "knife.n.01",
    "spoon": "spoon.n.01", "bowl": "bowl.n.03", "banana": "banana.n.02", "apple": "apple.n.01",
    "sandwich": "sandwich.n.01", "orange": "orange.n.01", "broccoli": "broccoli.n.01", "carrot": "carrot.n.01",
    "hot dog": "frank.n.02", "pizza": "pizza.n.01", "donut": "doughnut.n.02", "cake": "cake.n.03",
    "chair": "chair.n.01", "couch": "sofa.n.01", "potted plant": "pot.n.04", "bed": "bed.n.01",
    "dining table": "dining_table.n.01", "toilet": "toilet.n.02", "tv": "television_receiver.n.01",
    "laptop": "laptop.n.01", "mouse": "mouse.n.04", "remote": "remote_control.n.01",
    "keyboard": "computer_keyboard.n.01", "cell phone": "cellular_telephone.n.01", "microwave": "microwave.n.02",
    "oven": "oven.n.01", "toaster": "toaster.n.02", "sink": "sink.n.01", "refrigerator": "electric_refrigerator.n.01",
    "book": "book.n.01", "clock": "clock.n.01", "vase": "vase.n.01", "scissors": "scissors.n.01",
    "teddy bear": "teddy.n.01", "hair drier": "hand_blower.n.01", "toothbrush": "toothbrush.n.01",
}


def coco_thing_categories(coco_json=None):
    """The COCO categories (``id``, ``name``): from a COCO instances json, else detectron2's built-in list."""
    if coco_json:
        with open(coco_json) as f:
            cats = json.load(f).get("categories")
        if not cats:
            raise ValueError(f"{coco_json}: no 'categories'")
        return [{"id": c["id"], "name": c["name"]} for c in cats]
    from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

    return [{"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]]


def match_categories(lvis_categories, coco_categories, synset_map=COCO_TO_LVIS_SYNSET):
    """``{LVIS category id: COCO category}`` and the list of unmatched COCO names (see the module docstring)."""
    by_synset = {c.get("synset"): c for c in lvis_categories if c.get("synset")}
    by_name = {}
    for c in lvis_categories:
        for n in [c.get("name")] + list(c.get("synonyms", [])):
            if n:
                by_name.setdefault(n.lower(), c)
    mapping, missing = {}, []
    for coco in coco_categories:
        lvis = by_synset.get(synset_map.get(coco["name"]))
        if lvis is None:
            lvis = by_name.get(coco["name"].replace(" ", "_").lower())
        if lvis is None:
            missing.append(coco["name"])
            continue
        if lvis["id"] in mapping:
            raise ValueError(
                f"COCO categories {mapping[lvis['id']]['name']!r} and {coco['name']!r} both map to LVIS category "
                f"{lvis.get('name')!r} (id {lvis['id']})"
            )
        mapping[lvis["id"]] = coco
    return mapping, missing


def cocofy_lvis(lvis_data, coco_categories, synset_map=COCO_TO_LVIS_SYNSET, strict=False):
    """Restrict an LVIS dataset dict to the COCO categories; returns ``(cocofied dict, unmatched COCO names)``."""
    for key in ("images", "annotations", "categories"):
        if key not in lvis_data:
            raise ValueError(f"not an LVIS json: no '{key}' key (keys: {sorted(lvis_data)})")
    mapping, missing = match_categories(lvis_data["categories"], coco_categories, synset_map)
    if missing and strict:
        raise ValueError(f"COCO categories without an LVIS category: {missing}")
    annotations = []
    for ann in lvis_data["annotations"]:
        coco = mapping.get(ann["category_id"])
        if coco is not None:
            annotations.append(dict(ann, category_id=coco["id"]))
    images = []
    for img in lvis_data["images"]:
        img = dict(img)
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            img[key] = sorted(mapping[i]["id"] for i in img.get(key, []) if i in mapping)
        images.append(img)
    image_count = Counter()
    for image_id, cat in {(a["image_id"], a["category_id"]) for a in annotations}:
        image_count[cat] += 1
    instance_count = Counter(a["category_id"] for a in annotations)
    categories = []
    lvis_by_id = {c["id"]: c for c in lvis_data["categories"]}
    for lvis_id, coco in sorted(mapping.items(), key=lambda kv: kv[1]["id"]):
        cat = dict(lvis_by_id[lvis_id])
        cat.update(id=coco["id"], name=coco["name"], lvis_name=lvis_by_id[lvis_id].get("name"),
                   image_count=image_count[coco["id"]], instance_count=instance_count[coco["id"]])
        cat.setdefault("frequency", "f")
        categories.append(cat)
    out = {k: v for k, v in lvis_data.items() if k not in ("images", "annotations", "categories")}
    out.update(images=images, annotations=annotations, categories=categories)
    return out, missing


def default_paths(lvis_json=None, output=None):
    root = os.environ.get("DETECTRON2_DATASETS", "datasets")
    lvis_json = lvis_json or os.path.join(root, "lvis", "lvis_v0.5_val.json")
    if output is None:
        base, ext = os.path.splitext(lvis_json)
        output = base + "_cocofied" + ext
    return lvis_json, output


def main(argv=None, description=__doc__):
    """``datasets/prepare_cocofied_lvis.py``: parse ``argv`` and write the cocofied json; returns its path."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lvis-json", help="LVIS annotations (default $DETECTRON2_DATASETS/lvis/lvis_v0.5_val.json)")
    p.add_argument("--coco-json", help="COCO instances json whose categories to keep (default: detectron2's COCO list)")
    p.add_argument("-o", "--output", help="output json (default: <lvis-json>_cocofied.json)")
    p.add_argument("--strict", action="store_true", help="fail if a COCO category has no LVIS category")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    lvis_json, output = default_paths(args.lvis_json, args.output)
    if not os.path.isfile(lvis_json):
        raise SystemExit(f"LVIS annotation file not found: {lvis_json} (set --lvis-json or $DETECTRON2_DATASETS)")
    with open(lvis_json) as f:
        lvis_data = json.load(f)
    data, missing = cocofy_lvis(lvis_data, coco_thing_categories(args.coco_json), strict=args.strict)
    if missing:
        logger.warning("%d COCO categories have no LVIS category in %s: %s", len(missing), lvis_json, missing)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, output)
    logger.info("Wrote %s: %d images, %d annotations, %d categories", output, len(data["images"]),
                len(data["annotations"]), len(data["categories"]))
    return output

