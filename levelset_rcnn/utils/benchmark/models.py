"""LevelSet R-CNN and Mask R-CNN (R50-FPN) side by side: both models with the same random initialisation,
synthetic images and ground truth, and the timings of inference, of each inference part, of one training
iteration and of the TSDF targets.

Protocol: both models are built from ``configs/COCO-InstanceSegmentation/*_R_50_FPN_1x.yaml`` with
``MODEL.WEIGHTS ""`` (no download) and the same random initialisation (every parameter the two share — backbone,
RPN, box head, mask/TSDF head — is copied from Mask R-CNN into LevelSet R-CNN) and see the same images.
"""
import contextlib
import functools
import math
import statistics
import time

import torch

from .timing import interleaved, sync, timed

__all__ = ["CONFIGS", "QUICK_OPTS", "COMMON_PARTS", "MODULE_PARTS", "model_parts", "build_cfg", "build_models",
           "use_anchor_proposals", "make_image", "make_instances", "training_batch", "train_step", "count_mask_rois",
           "bench_inference", "bench_modules", "timed_parts", "bench_training", "bench_tsdf"]

#: the two models' configs, relative to the configs root (:func:`levelset_rcnn.model_zoo.configs_root`)
CONFIGS = {
    "levelset": "COCO-InstanceSegmentation/levelset_rcnn_R_50_FPN_1x.yaml",
    "maskrcnn": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml",
}
#: --quick: the same architecture family, shrunk so the whole run takes seconds.
QUICK_OPTS = [
    "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "200", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "200",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "64",
]
#: the parts every model has (label, attribute path); the mask branch is the whole ``roi_heads.mask_head`` (LevelSet
#: R-CNN's pools its own RoI features inside it; Mask R-CNN's 28×28 head gets them pooled by ``roi_heads``)
COMMON_PARTS = (
    ("backbone", "backbone"),
    ("RPN", "proposal_generator"),
    ("box head", "roi_heads.box_head"),
    ("mask branch", "roi_heads.mask_head"),
)
#: (label, attribute path from the model) of LevelSet R-CNN's own inference parts, inside its mask branch.
MODULE_PARTS = (
    ("initial TSDF head (mask head convs)", "roi_heads.mask_head.tsdf_head"),
    ("hyperparameter head", "roi_heads.mask_head.hyperparameter_head"),
    ("Chan-Vese feature head", "roi_heads.mask_head.feature_head"),
    ("Chan-Vese refinement", "roi_heads.mask_head.refinement"),
)


def model_parts(model):
    """The parts :func:`timed_parts` times in ``model``: :data:`COMMON_PARTS`, and :data:`MODULE_PARTS` for a
    LevelSet R-CNN with Chan-Vese steps."""
    return COMMON_PARTS + (MODULE_PARTS if hasattr(model.roi_heads.mask_head, "refinement") else ())


def build_cfg(name, device, detections, quick, levelset_opts=()):
    """The frozen config of ``name`` (``"levelset"`` or ``"maskrcnn"``) for the benchmark."""
    from ...config import build_levelset_config
    from ...model_zoo import configs_root

    # Random weights give few confident, overlapping boxes: score threshold -1 (keeps scores that underflow to 0) and
    # no class-wise NMS at test time make every image yield exactly `detections` RoIs for the mask branch (checked
    # after each run).
    opts = ["MODEL.WEIGHTS", "", "MODEL.DEVICE", str(device), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "-1.0",
            "MODEL.ROI_HEADS.NMS_THRESH_TEST", "1.0", "TEST.DETECTIONS_PER_IMAGE", str(detections)]
    if quick:
        opts += QUICK_OPTS
    if name == "levelset":
        opts += list(levelset_opts)
    return build_levelset_config(str(configs_root() / CONFIGS[name]), opts)


def build_models(device, detections, quick, levelset_opts=()):
    """Both models, same random init for every shared parameter (copied from Mask R-CNN); returns
    ``(models, number of copied tensors, number of LevelSet R-CNN tensors)``."""
    from detectron2.modeling import build_model

    models = {}
    for name in ("maskrcnn", "levelset"):
        torch.manual_seed(0)
        models[name] = build_model(build_cfg(name, device, detections, quick, levelset_opts))
    src = models["maskrcnn"].state_dict()
    dst = models["levelset"].state_dict()
    shared = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    models["levelset"].load_state_dict(shared, strict=False)
    for model in models.values():
        use_anchor_proposals(model)
    return models, len(shared), len(dst)


def use_anchor_proposals(model):
    """Zero the RPN's box deltas. Random deltas stretch most proposals to (clipped) near-identical boxes that
    NMS collapses to a handful, so the box head would see ~20 proposals instead of POST_NMS_TOPK_TEST (1000) as
    in a trained model; with zero deltas the proposals are the anchors themselves (random objectness) and the box
    head runs on the full proposal count, in both models alike."""
    deltas = model.proposal_generator.rpn_head.anchor_deltas
    torch.nn.init.zeros_(deltas.weight)
    torch.nn.init.zeros_(deltas.bias)


def make_image(size, device, seed=0):
    """A smooth random BGR image, 0–255, ``(3, H, W)`` float32."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    low = torch.rand(1, 3, max(2, h // 32), max(2, w // 32), generator=g) * 255
    img = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0]
    return img.to(device)


def make_instances(size, num, device, seed=0):
    """``num`` ellipses as polygon ground truth (COCO's format), with their boxes and classes."""
    from detectron2.structures import Boxes, Instances, PolygonMasks

    g = torch.Generator().manual_seed(seed)
    h, w = size
    polys, boxes = [], []
    for _ in range(num):
        rx = float(torch.empty(1).uniform_(0.03, 0.15, generator=g)) * w
        ry = float(torch.empty(1).uniform_(0.03, 0.15, generator=g)) * h
        cx = float(torch.empty(1).uniform_(rx, w - rx, generator=g))
        cy = float(torch.empty(1).uniform_(ry, h - ry, generator=g))
        pts = []
        for k in range(32):
            a = 2 * math.pi * k / 32
            pts += [cx + rx * math.cos(a), cy + ry * math.sin(a)]
        polys.append([torch.tensor(pts).numpy()])
        boxes.append([cx - rx, cy - ry, cx + rx, cy + ry])
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.gt_classes = torch.randint(0, 80, (num,), generator=g)
    inst.gt_masks = PolygonMasks(polys)
    return inst.to(device) if device.type != "cpu" else inst


def training_batch(size, num_instances, device):
    """One training image with ``num_instances`` ground-truth ellipses."""
    return [{"image": make_image(size, device, seed=1), "height": size[0], "width": size[1],
             "instances": make_instances(size, num_instances, device)}]


def train_step(model, batch):
    """Forward + backward of one iteration (no optimizer step); returns the losses."""
    from detectron2.utils.events import EventStorage

    with EventStorage(0):
        losses = model(batch)
    total = sum(losses.values())
    model.zero_grad(set_to_none=True)
    total.backward()
    return losses


def count_mask_rois(model, seen):
    """Register a hook that appends to ``seen`` the number of RoIs of each call of the mask head (its instances
    argument: the detections at inference, the foreground proposals in training); returns the hook handle."""
    return model.roi_heads.mask_head.register_forward_hook(
        lambda m, inputs, out: seen.append(sum(len(i) for i in inputs[1])))


def bench_inference(models, sizes, device, repeats, warmup, detections):
    """Inference per image of both models at each size, with exactly ``detections`` RoIs in the mask branch."""
    rows = []
    for size in sizes:
        batch = [{"image": make_image(size, device), "height": size[0], "width": size[1]}]
        counts = {}

        def runner(name):
            pooled = []
            count_mask_rois(models[name], pooled)

            def run():
                pooled.clear()
                with torch.no_grad():
                    out = models[name](batch)[0]["instances"]
                # RoIs the mask branch ran on (detector_postprocess later drops boxes that are empty after
                # clipping, which random box regression produces; pasting then covers the rest for both)
                counts[name] = (sum(pooled), len(out))
                return out
            return run

        for m in models.values():
            m.eval()
        med, _ = interleaved({k: runner(k) for k in ("maskrcnn", "levelset")}, device, repeats, warmup)
        for name, (rois, _) in counts.items():
            if rois != detections:
                raise RuntimeError(f"{name} at {size}: the mask branch ran on {rois} RoIs; expected {detections}")
        rows.append({"size": f"{size[0]}x{size[1]}", "maskrcnn_s": med["maskrcnn"], "levelset_s": med["levelset"],
                     "ratio": med["levelset"] / med["maskrcnn"], "detections": detections,
                     "pasted": counts["levelset"][1]})
    return rows


@contextlib.contextmanager
def timed_parts(model, parts, device):
    """Within the block, every ``(label, attribute path)`` of ``parts`` that ``model`` has is timed: its ``forward``
    (or the method the path names) is wrapped, with a device synchronisation on both sides on a GPU, and the seconds
    add up in the yielded ``{label: seconds}`` (reset it between runs). Paths the model lacks are left out; nested
    parts (a head and its sub-heads) are each timed in full; a part listed twice is timed once."""
    spent = {}
    restore = []
    try:
        for label, path in parts:
            owner_path, _, attr = path.rpartition(".")
            try:
                owner = functools.reduce(getattr, owner_path.split("."), model) if owner_path else model
            except AttributeError:
                continue
            target = getattr(owner, attr, None)
            if target is None:
                continue
            if isinstance(target, torch.nn.Module):
                owner, attr, target = target, "forward", target.forward
            if label in spent or any(o is owner and a == attr for o, a in restore):
                continue  # listed twice

            def timed_call(*a, _fn=target, _label=label, **k):
                sync(device)
                t0 = time.perf_counter()
                out = _fn(*a, **k)
                sync(device)
                spent[_label] += time.perf_counter() - t0
                return out

            spent[label] = 0.0
            setattr(owner, attr, timed_call)
            restore.append((owner, attr))
        yield spent
    finally:
        for owner, attr in restore:
            delattr(owner, attr)  # back to the class's method


def bench_modules(models, size, device, repeats, warmup):
    """Seconds spent in each part of one inference of each model (medians over ``repeats``, the models interleaved
    A, B, A, B, … as for the inference ratio), and the totals.

    Every model is timed by :func:`timed_parts` on :data:`COMMON_PARTS` (backbone, RPN, box head, mask branch) and,
    where it has them, LevelSet R-CNN's own :data:`MODULE_PARTS` (inside its mask branch); what is not listed (the
    box predictor and NMS, post-processing, mask pasting; Mask R-CNN's RoI pooling for its mask head) is the
    remainder of the total. Returns ``{"size", "box_head_rois", "models": {name: {"total_s", "parts_s"}}}`` plus
    LevelSet R-CNN's ``"total_s"`` / ``"parts_s"`` at the top level.
    """
    batch = [{"image": make_image(size, device), "height": size[0], "width": size[1]}]
    box_rois = []
    hooks = [m.roi_heads.box_head.register_forward_hook(lambda mod, i, o: box_rois.append(o.shape[0]))
             for m in models.values()]
    totals = {name: [] for name in models}
    per_run = {name: {} for name in models}
    try:
        for rep in range(warmup + repeats):
            for name, model in models.items():
                model.eval()
                with timed_parts(model, model_parts(model), device) as spent, torch.no_grad():
                    total, _ = timed(lambda: model(batch), device)
                if rep >= warmup:
                    totals[name].append(total)
                    for label, value in spent.items():
                        per_run[name].setdefault(label, []).append(value)
    finally:
        for hook in hooks:
            hook.remove()
    out = {"size": f"{size[0]}x{size[1]}", "box_head_rois": box_rois[-1], "models": {
        name: {"total_s": statistics.median(totals[name]),
               "parts_s": {label: statistics.median(v) for label, v in per_run[name].items()}} for name in models}}
    if "levelset" in out["models"]:
        out.update(out["models"]["levelset"])
    return out


def count_positive_rois(model, batch):
    """Foreground RoIs the mask branch trains on in one iteration."""
    seen = []
    handle = count_mask_rois(model, seen)
    try:
        train_step(model, batch)
    finally:
        handle.remove()
    return seen[-1] if seen else 0


def bench_training(models, size, num_instances, device, repeats, warmup):
    """One training iteration (forward + backward) of both models on one image."""
    batch = training_batch(size, num_instances, device)
    for m in models.values():
        m.train()
    rois = count_positive_rois(models["levelset"], batch)
    fns = {k: (lambda k=k: train_step(models[k], batch)) for k in ("maskrcnn", "levelset")}
    med, _ = interleaved(fns, device, repeats, warmup)
    return {"size": f"{size[0]}x{size[1]}", "maskrcnn_s": med["maskrcnn"], "levelset_s": med["levelset"],
            "ratio": med["levelset"] / med["maskrcnn"], "positive_rois": rois}


def bench_tsdf(models, size, num_instances, device, repeats, warmup):
    """TSDF targets (S and 28) for the positive RoIs of one training image, vs Mask R-CNN's 28×28 crops."""
    from ...modeling.losses import gather_gt_masks

    model = models["levelset"]
    model.train()
    batch = training_batch(size, num_instances, device)
    captured = []
    handle = model.roi_heads.mask_head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[1]))
    try:
        train_step(model, batch)
    finally:
        handle.remove()
    instances = captured[-1]  # the foreground proposals the mask head trained on
    rois = sum(len(i) for i in instances)
    head = model.roi_heads.mask_head
    res = head.resolution
    t_res = head.truncation(res)
    t_small = head.truncation(28)
    fns = {
        "tsdf_112_and_28": lambda: (gather_gt_masks(instances, res, t_res), gather_gt_masks(instances, 28, t_small)),
        "maskrcnn_crops_28": lambda: gather_gt_masks(instances, 28, None),
    }
    med, _ = interleaved(fns, device, repeats, warmup)
    return {"positive_rois": rois, "tsdf_ms": med["tsdf_112_and_28"] * 1e3,
            "maskrcnn_crops_ms": med["maskrcnn_crops_28"] * 1e3}
