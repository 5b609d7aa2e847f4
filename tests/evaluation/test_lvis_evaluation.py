"""LevelSetLVISEvaluator: LVIS rules with known answers, on every backend that works here.

The ``faster_coco_eval`` backend runs on every detectron2 / numpy; the ``lvis`` backend (the reference, detectron2's
own LVISEvaluator) only where the ``lvis`` package works (numpy < 1.24, the v0.6 fallback). The expected numbers are
the same for both, so on the v0.6 leg this cross-checks faster-coco-eval's LVIS mode against ``lvis``.
"""
import json
import re
import uuid

import numpy as np
import pytest
import torch

import levelset_rcnn  # noqa: F401  (before detectron2.evaluation)
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, Instances

from levelset_rcnn.evaluation import LevelSetLVISEvaluator, build_evaluator, lvis_package_works
from levelset_rcnn.evaluation.lvis_evaluation import limit_detections_per_image

H, W = 40, 60
PERSON, BEEF, AARDVARK, ZEBRA = 1, 2, 3, 4  # LVIS category ids; frequencies f, c, r, f
# image id -> [(category, (x0, y0, x1, y1))]; image 1 lists aardvark as negative, image 2 person; beef is not
# exhaustively annotated in image 2; zebra is neither present nor negative in image 1.
GT = {
    1: [(PERSON, (2, 2, 20, 30)), (BEEF, (30, 5, 55, 25))],
    2: [(AARDVARK, (5, 5, 25, 25)), (BEEF, (35, 10, 55, 35)), (ZEBRA, (28, 28, 34, 38))],
}
NEG = {1: [AARDVARK], 2: [PERSON]}
NOT_EXHAUSTIVE = {1: [], 2: [BEEF]}

LVIS_WORKS, LVIS_WHY = lvis_package_works()
BACKENDS = [
    "faster_coco_eval",
    pytest.param("lvis", marks=pytest.mark.skipif(not LVIS_WORKS, reason=f"backend 'lvis' unusable: {LVIS_WHY}")),
]


def _poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture
def lvis_dataset(tmp_path):
    cats = [{"id": PERSON, "name": "person", "synset": "person.n.01", "frequency": "f"},
            {"id": BEEF, "name": "beef_(food)", "synset": "beef.n.01", "frequency": "c"},
            {"id": AARDVARK, "name": "aardvark", "synset": "aardvark.n.01", "frequency": "r"},
            {"id": ZEBRA, "name": "zebra", "synset": "zebra.n.01", "frequency": "f"}]
    images = [{"id": i, "height": H, "width": W, "neg_category_ids": NEG[i],
               "not_exhaustive_category_ids": NOT_EXHAUSTIVE[i], "coco_url": f"http://x/{i:012d}.jpg"} for i in GT]
    anns = []
    for image_id, objs in GT.items():
        for cat, (x0, y0, x1, y1) in objs:
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "segmentation": _poly(x0, y0, x1, y1),
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0))})
    path = tmp_path / "lvis_tiny.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats, "info": {}, "licenses": []}))
    name = f"levelset_test_lvis_{uuid.uuid4().hex[:8]}"
    # no thing_dataset_id_to_contiguous_id: predicted class k is LVIS category k + 1, as for the LVIS datasets
    MetadataCatalog.get(name).set(json_file=str(path), evaluator_type="lvis",
                                  thing_classes=[c["name"] for c in cats])
    yield name
    MetadataCatalog.remove(name)


def _predictions(extra=(), drop=()):
    """The ground truth as predictions (score 0.9, 0.8, ... per image) plus ``extra`` (image, cat, box, score);
    ``drop``: (image, index) pairs of ground-truth objects not predicted."""
    inputs, outputs = [], []
    for image_id, objs in GT.items():
        dets = [(cat, box, 0.9 - 0.1 * k) for k, (cat, box) in enumerate(objs) if (image_id, k) not in drop]
        dets += [(cat, box, score) for i, cat, box, score in extra if i == image_id]
        inst = Instances((H, W))
        masks = np.zeros((len(dets), H, W), bool)
        for j, (_, (x0, y0, x1, y1), _) in enumerate(dets):
            masks[j, y0:y1, x0:x1] = True
        inst.pred_masks = torch.from_numpy(masks)
        inst.pred_boxes = Boxes(torch.tensor([list(b) for _, b, _ in dets], dtype=torch.float32).reshape(-1, 4))
        inst.scores = torch.tensor([s for _, _, s in dets], dtype=torch.float32)
        inst.pred_classes = torch.tensor([c - 1 for c, _, _ in dets], dtype=torch.int64)
        inputs.append({"image_id": image_id, "height": H, "width": W})
        outputs.append({"instances": inst})
    return inputs, outputs


def _evaluate(name, backend, tmp_path=None, **kwargs):
    evaluator = LevelSetLVISEvaluator(name, ("bbox", "segm"), distributed=False, backend=backend,
                                      output_dir=str(tmp_path) if tmp_path else None, **kwargs)
    assert evaluator.backend == backend

    def run(inputs_outputs):
        evaluator.reset()
        evaluator.process(*inputs_outputs)
        res = evaluator.evaluate()
        # the lvis package reports an empty frequency group / area range as -1 (-100 %), faster-coco-eval as NaN
        return {task: {k: (float("nan") if v < 0 else v) for k, v in m.items()} for task, m in res.items()}

    return run


@pytest.mark.parametrize("backend", BACKENDS)
def test_lvis_rules_known_answers(lvis_dataset, backend, tmp_path):
    run = _evaluate(lvis_dataset, backend, tmp_path)
    res = run(_predictions())
    for task in ("bbox", "segm"):
        for k in ("AP", "AP50", "AP75", "APs", "APr", "APc", "APf"):
            assert res[task][k] == pytest.approx(100.0), (task, k)
        assert np.isnan(res[task]["APl"])  # every object is small
    assert (tmp_path / "lvis_instances_results.json").is_file()

    # a detection of a category the image lists as negative is a false positive: ranked first, it halves that
    # category's AP (person: f; aardvark: r)
    res = run(_predictions(extra=[(2, PERSON, (30, 2, 50, 20), 0.95), (1, AARDVARK, (40, 28, 58, 38), 0.95)]))
    for task in ("bbox", "segm"):
        assert res[task]["APr"] == pytest.approx(50.0)
        assert res[task]["APf"] == pytest.approx((50.0 + 100.0) / 2)  # person and zebra
        assert res[task]["AP"] == pytest.approx((50.0 + 100.0 + 50.0 + 100.0) / 4)
    # unmatched detections of a not-exhaustively annotated category (beef in image 2) are ignored, and so are
    # detections of a category that the image neither contains nor lists as negative (zebra in image 1);
    # under COCO rules both would be false positives
    res = run(_predictions(extra=[(2, BEEF, (2, 28, 20, 38), 0.95), (1, ZEBRA, (22, 28, 40, 38), 0.95)]))
    for task in ("bbox", "segm"):
        assert res[task]["AP"] == pytest.approx(100.0), task
    # a missed object: beef has 2 instances, one found -> precision 1 up to recall 1/2: 51 of COCO's 101 recall points
    res = run(_predictions(drop=[(1, 1)]))
    assert res["segm"]["APc"] == pytest.approx(100.0 * 51 / 101) and res["segm"]["APf"] == pytest.approx(100.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lvis_max_detections_per_image(lvis_dataset, backend):
    """LVIS limits the detections of an image across categories (300 by default): with 1, image 1 keeps its
    person (score 0.9) and loses its beef (0.8); image 2 keeps its aardvark."""
    res = _evaluate(lvis_dataset, backend, max_dets_per_image=1)(_predictions())
    assert res["segm"]["APr"] == pytest.approx(100.0)  # aardvark
    assert res["segm"]["APc"] == pytest.approx(0.0)  # beef: both instances lost
    assert res["segm"]["APf"] == pytest.approx(50.0)  # person found, zebra lost


def test_limit_detections_per_image():
    results = [{"image_id": 1, "score": s, "k": k} for k, s in enumerate((0.1, 0.9, 0.5))] + [
        {"image_id": 2, "score": 0.3, "k": 3}]
    assert [r["k"] for r in limit_detections_per_image(results, 2)] == [1, 2, 3]
    assert limit_detections_per_image(results, -1) == results


def test_default_backend_and_build_evaluator(lvis_dataset, tmp_path):
    """The default is 'lvis' exactly where it works; build_evaluator gives this evaluator for LVIS datasets."""
    cfg = get_cfg()
    cfg.MODEL.MASK_ON = True
    evaluator = build_evaluator(cfg, lvis_dataset, str(tmp_path))
    assert isinstance(evaluator, LevelSetLVISEvaluator)
    assert evaluator.backend == ("lvis" if LVIS_WORKS else "faster_coco_eval")
    with pytest.raises(ValueError, match="lvis_typo"):
        LevelSetLVISEvaluator(lvis_dataset, backend="lvis_typo")
    missing = f"levelset_test_lvis_missing_{uuid.uuid4().hex[:8]}"
    MetadataCatalog.get(missing).set(json_file=str(tmp_path / "nope.json"), evaluator_type="lvis")
    try:
        with pytest.raises(FileNotFoundError, match="nope.json"):
            LevelSetLVISEvaluator(missing, backend="faster_coco_eval")
    finally:
        MetadataCatalog.remove(missing)


@pytest.mark.skipif(LVIS_WORKS, reason="the lvis package works with this numpy: backend 'lvis' is allowed")
def test_lvis_backend_refused_where_it_cannot_work(lvis_dataset):
    with pytest.raises(RuntimeError, match=re.escape(LVIS_WHY)):
        LevelSetLVISEvaluator(lvis_dataset, backend="lvis")
