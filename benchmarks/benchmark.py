#!/usr/bin/env python
"""Side-by-side benchmark of LevelSet R-CNN and Mask R-CNN (R50-FPN), and of the Chan-Vese module alone.

    python benchmarks/benchmark.py                        # full CPU benchmark (minutes)
    python benchmarks/benchmark.py --device cuda          # on a GPU (GPU memory: max allocated)
    python benchmarks/benchmark.py --quick                # smoke test: tiny images, 1 repeat (CI)
    python benchmarks/benchmark.py --parts chan_vese,tsdf --repeats 7

Prints one table (markdown) with times, memory and ratios LevelSet / Mask R-CNN:

1. inference per image at each ``--sizes`` with exactly ``--detections`` detections (score threshold −1, so
   that not even a score that underflows to 0 is dropped, and ``TEST.DETECTIONS_PER_IMAGE``; the script checks
   that both mask branches ran on that many RoIs);
2. one training iteration (forward + backward, no optimizer step) and its peak memory: on the CPU the
   peak RSS of a fresh subprocess per model (``resource.getrusage`` ru_maxrss, total and above the RSS after
   building the model), on a GPU ``torch.cuda.max_memory_allocated``;
3. the Chan-Vese module alone (N = 3, C = 64, 112×112) against the direct reference implementation of
   Eqs. 7–9 kept in ``tests/modeling/chan_vese_reference.py``: time per RoI, time per iteration relative
   to one full read of F (``F.sum()``), and the bytes saved for backward (``saved_tensors_hooks``);
4. TSDF target generation (112×112 and 28×28) per training image;
5. (``modules``) where LevelSet R-CNN's inference time goes at the first ``--sizes`` entry: backbone, RPN,
   box head, initial TSDF head, hyperparameter head, Chan-Vese feature head and refinement.

Protocol: both models are built from ``configs/COCO-InstanceSegmentation/*_R_50_FPN_1x.yaml`` with
``MODEL.WEIGHTS ""`` (no download) and the same random initialisation (every parameter the two share — backbone,
RPN, box head, mask/TSDF head — is copied from Mask R-CNN into LevelSet R-CNN), see the same images, run on the
same device, warm-up runs are excluded, and the repeats of the two models are interleaved (A, B, A, B, …) so
that load from other processes hits both; each number is the median of the repeats.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import levelset_rcnn  # noqa: E402,F401  (first: registers heads and detectron2._C when missing)
import torch  # noqa: E402

CONFIGS = {
    "levelset": "configs/COCO-InstanceSegmentation/levelset_rcnn_R_50_FPN_1x.yaml",
    "maskrcnn": "configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml",
}
# --quick: the same architecture family, shrunk so the whole run takes seconds.
QUICK_OPTS = [
    "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "200", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "200",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "64",
]


# ----------------------------------------------------------------------------------------------- helpers
def load_reference():
    """The direct Eqs. 7–9 implementation kept in the tests."""
    path = REPO / "tests" / "modeling" / "chan_vese_reference.py"
    spec = importlib.util.spec_from_file_location("chan_vese_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_chan_vese


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def interleaved(fns, device, repeats, warmup):
    """Run ``{name: fn}`` round-robin ``warmup + repeats`` times; medians (seconds) of the timed rounds."""
    times = {k: [] for k in fns}
    for rep in range(warmup + repeats):
        for name, fn in fns.items():
            t, _ = timed(fn, device)
            if rep >= warmup:
                times[name].append(t)
    return {k: statistics.median(v) for k, v in times.items()}, times


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW (e.g. 800x1333), got {text!r}") from None
    return h, w


def build_cfg(name, device, detections, quick, levelset_opts=()):
    from levelset_rcnn.engine import setup_cfg

    # Random weights give few confident, overlapping boxes: score threshold -1 (keeps scores that underflow to 0) and no class-wise NMS at test
    # time make every image yield exactly `detections` RoIs for the mask branch (checked after each run).
    opts = ["MODEL.WEIGHTS", "", "MODEL.DEVICE", str(device), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "-1.0",
            "MODEL.ROI_HEADS.NMS_THRESH_TEST", "1.0", "TEST.DETECTIONS_PER_IMAGE", str(detections)]
    if quick:
        opts += QUICK_OPTS
    if name == "levelset":
        opts += list(levelset_opts)
    cfg = setup_cfg(str(REPO / CONFIGS[name]), opts)
    return cfg


def build_models(device, detections, quick, levelset_opts=()):
    """Both models, same random init for every shared parameter (copied from Mask R-CNN)."""
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
    import math

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


# ----------------------------------------------------------------------------------------------- parts
def bench_inference(models, sizes, device, repeats, warmup, detections):
    rows = []
    for size in sizes:
        batch = [{"image": make_image(size, device), "height": size[0], "width": size[1]}]
        counts = {}

        def runner(name):
            pooled = []
            models[name].roi_heads.mask_pooler.register_forward_hook(lambda m, i, o: pooled.append(o.shape[0]))

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


#: (label, attribute path from the model) of the LevelSet R-CNN inference parts timed by ``--parts modules``.
MODULE_PARTS = (
    ("backbone", "backbone"),
    ("RPN", "proposal_generator"),
    ("box head", "roi_heads.box_head"),
    ("initial TSDF head (mask head convs)", "roi_heads.mask_head.layers"),
    ("hyperparameter head", "roi_heads.hyperparameter_head"),
    ("Chan-Vese feature head", "roi_heads.feature_head"),
    ("Chan-Vese refinement", "roi_heads.refinement"),
)


def bench_modules(model, size, device, repeats, warmup):
    """Seconds spent in each part of one LevelSet R-CNN inference (medians over ``repeats``), and the total.

    Each part is timed by wrapping its callable (a module's ``forward`` or a head's ``layers``), with a device
    synchronisation on both sides on a GPU; what is not listed (pooling, post-processing, mask pasting) is the
    remainder of the total.
    """
    import functools

    batch = [{"image": make_image(size, device), "height": size[0], "width": size[1]}]
    box_rois = []
    hook = model.roi_heads.box_head.register_forward_hook(lambda m, i, o: box_rois.append(o.shape[0]))
    spent = {label: 0.0 for label, _ in MODULE_PARTS}
    restore = []
    for label, path in MODULE_PARTS:
        owner_path, _, attr = path.rpartition(".")
        owner = functools.reduce(getattr, owner_path.split("."), model) if owner_path else model
        target = getattr(owner, attr, None)
        if target is None:
            continue
        if isinstance(target, torch.nn.Module):
            owner, attr, target = target, "forward", target.forward

        def timed_call(*a, _fn=target, _label=label, **k):
            sync(device)
            t0 = time.perf_counter()
            out = _fn(*a, **k)
            sync(device)
            spent[_label] += time.perf_counter() - t0
            return out

        setattr(owner, attr, timed_call)
        restore.append((owner, attr))
    model.eval()
    per_run = {label: [] for label in spent}
    totals = []
    try:
        for rep in range(warmup + repeats):
            for label in spent:
                spent[label] = 0.0
            with torch.no_grad():
                total, _ = timed(lambda: model(batch), device)
            if rep >= warmup:
                totals.append(total)
                for label, value in spent.items():
                    per_run[label].append(value)
    finally:
        for owner, attr in restore:
            delattr(owner, attr)  # back to the class's method
        hook.remove()
    return {"size": f"{size[0]}x{size[1]}", "total_s": statistics.median(totals), "box_head_rois": box_rois[-1],
            "parts_s": {label: statistics.median(v) for label, v in per_run.items()}}


def training_batch(size, num_instances, device):
    return [{"image": make_image(size, device, seed=1), "height": size[0], "width": size[1],
             "instances": make_instances(size, num_instances, device)}]


def train_step(model, batch):
    from detectron2.utils.events import EventStorage

    with EventStorage(0):
        losses = model(batch)
    total = sum(losses.values())
    model.zero_grad(set_to_none=True)
    total.backward()
    return losses


def count_positive_rois(model, batch):
    """Foreground RoIs the mask branch trains on in one iteration (a forward hook on the mask pooler)."""
    seen = []
    handle = model.roi_heads.mask_pooler.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    try:
        train_step(model, batch)
    finally:
        handle.remove()
    return seen[-1] if seen else 0


def bench_training(models, size, num_instances, device, repeats, warmup):
    batch = training_batch(size, num_instances, device)
    for m in models.values():
        m.train()
    rois = count_positive_rois(models["levelset"], batch)
    fns = {k: (lambda k=k: train_step(models[k], batch)) for k in ("maskrcnn", "levelset")}
    med, _ = interleaved(fns, device, repeats, warmup)
    return {"size": f"{size[0]}x{size[1]}", "maskrcnn_s": med["maskrcnn"], "levelset_s": med["levelset"],
            "ratio": med["levelset"] / med["maskrcnn"], "positive_rois": rois}


def _rss_now_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_worker(name, size, num_instances, device_name, quick, threads, levelset_opts=()):
    """Runs in a fresh process: build one model, two training iterations, report peak memory (JSON)."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    torch.manual_seed(0)
    from detectron2.modeling import build_model

    model = build_model(build_cfg(name, device, 100, quick, levelset_opts))
    use_anchor_proposals(model)
    model.train()
    batch = training_batch(size, num_instances, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train_step(model, batch)
        train_step(model, batch)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_mib": peak / 2**20, "above_model_mib": (peak - base) / 2**20}
    base = _rss_now_kib()
    train_step(model, batch)
    train_step(model, batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_mib": peak / 1024, "above_model_mib": (peak - base) / 1024}


def bench_memory(size, num_instances, device, quick, threads, levelset_opts=()):
    """Peak training memory per model, each in a fresh subprocess (alternating, ``--memory-repeats``)."""
    out = {}
    for name in ("maskrcnn", "levelset"):
        cmd = [sys.executable, __file__, "--memory-worker", name, "--train-size", f"{size[0]}x{size[1]}",
               "--train-instances", str(num_instances), "--device", str(device), "--threads", str(threads)]
        if quick:
            cmd.append("--quick")
        if levelset_opts:
            cmd += ["--levelset-opts"] + list(levelset_opts)
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
        if res.returncode != 0:
            raise RuntimeError(f"memory worker for {name} failed:\n{res.stderr[-3000:]}")
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return {"maskrcnn": out["maskrcnn"], "levelset": out["levelset"],
            "ratio_peak": out["levelset"]["peak_mib"] / out["maskrcnn"]["peak_mib"],
            "ratio_above_model": out["levelset"]["above_model_mib"] / max(out["maskrcnn"]["above_model_mib"], 1e-9)}


def saved_bytes(fn, exclude=()):
    """Bytes of the distinct storages saved for backward while ``fn()`` runs (optionally minus some)."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    for t in exclude:
        storages.pop(t.untyped_storage().data_ptr(), None)
    return sum(storages.values()), out


def bench_chan_vese(device, rois, channels, side, iterations, repeats, warmup):
    from levelset_rcnn.modeling.chan_vese import ChanVeseRefinement

    reference = load_reference()
    g = torch.Generator().manual_seed(0)
    feats = torch.tanh(torch.randn(rois, channels, side, side, generator=g)).to(device)
    phi0 = torch.tanh(torch.randn(rois, 1, side, side, generator=g)).to(device)
    hp = (0.5 + torch.rand(rois, 2 * iterations + 3, generator=g)).to(device)
    module = ChanVeseRefinement(num_iterations=iterations)
    impls = {"fast": lambda p, f, h: module(p, f, h), "reference": lambda p, f, h: reference(p, f, h, iterations)}
    leaf = [t.clone().requires_grad_() for t in (phi0, feats, hp)]

    def forward(impl):
        def run():
            with torch.no_grad():
                return impls[impl](phi0, feats, hp)
        return run

    def forward_backward(impl):
        def run():
            phis = impls[impl](*leaf)
            phis[-1].sum().backward()
            for t in leaf:
                t.grad = None
        return run

    fns = {"read_F": lambda: feats.sum()}
    for impl in impls:
        fns[f"{impl}_fwd"] = forward(impl)
        fns[f"{impl}_fwdbwd"] = forward_backward(impl)
    med, _ = interleaved(fns, device, repeats, warmup)
    mem = {}
    for impl in impls:
        total, _ = saved_bytes(lambda: impls[impl](*leaf))
        without_f, _ = saved_bytes(lambda: impls[impl](*leaf), exclude=[leaf[1]])
        mem[impl] = {"saved_mib_per_roi": total / rois / 2**20, "saved_mib_per_roi_without_F": without_f / rois / 2**20}
    f_mib = channels * side * side * 4 / 2**20
    return {
        "rois": rois, "channels": channels, "side": side, "iterations": iterations, "F_mib_per_roi": f_mib,
        "read_F_ms_per_roi": med["read_F"] * 1e3 / rois,
        **{f"{k}_ms_per_roi": v * 1e3 / rois for k, v in med.items() if k != "read_F"},
        "fast_fwd_iter_over_read_F": med["fast_fwd"] / iterations / med["read_F"],
        "fast_fwdbwd_iter_over_read_F": med["fast_fwdbwd"] / iterations / med["read_F"],
        "speedup_fwd": med["reference_fwd"] / med["fast_fwd"],
        "speedup_fwdbwd": med["reference_fwdbwd"] / med["fast_fwdbwd"],
        "memory": mem,
    }


def bench_tsdf(models, size, num_instances, device, repeats, warmup):
    """TSDF targets (112 and 28) for the positive RoIs of one training image, vs Mask R-CNN's 28×28 crops."""
    from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals

    from levelset_rcnn.modeling.tsdf_head import gather_gt_masks

    model = models["levelset"]
    model.train()
    batch = training_batch(size, num_instances, device)
    captured = {}
    heads = model.roi_heads
    original = heads._forward_mask

    def capture(features, instances):
        captured["instances"] = select_foreground_proposals(instances, heads.num_classes)[0]
        return original(features, instances)

    heads._forward_mask = capture
    try:
        train_step(model, batch)
    finally:
        heads._forward_mask = original
    instances = captured["instances"]
    rois = sum(len(i) for i in instances)
    res = heads.resolution
    t_res = heads.mask_head.truncation(res)
    t_small = heads.mask_head.truncation(28)
    fns = {
        "tsdf_112_and_28": lambda: (gather_gt_masks(instances, res, t_res), gather_gt_masks(instances, 28, t_small)),
        "maskrcnn_crops_28": lambda: gather_gt_masks(instances, 28, None),
    }
    med, _ = interleaved(fns, device, repeats, warmup)
    return {"positive_rois": rois, "tsdf_ms": med["tsdf_112_and_28"] * 1e3,
            "maskrcnn_crops_ms": med["maskrcnn_crops_28"] * 1e3}


# ----------------------------------------------------------------------------------------------- report
def fmt_table(results, args):
    lines = []
    add = lines.append
    add(f"# LevelSet R-CNN vs Mask R-CNN benchmark ({datetime.date.today().isoformat()})")
    add("")
    add(f"device: {results['device']}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"repeats {args.repeats} (median), warm-up {args.warmup}; interleaved")
    add(f"command: {results['command']}")
    if results.get("shared_parameters"):
        add(f"same init: {results['shared_parameters']}")
    add("")
    if "inference" in results:
        add("| inference per image | Mask R-CNN | LevelSet R-CNN | ratio | target |")
        add("|---|---|---|---|---|")
        for r in results["inference"]:
            add(f"| {r['size']}, mask branch on {r['detections']} RoIs ({r['pasted']} non-empty pasted) | "
                f"{r['maskrcnn_s'] * 1e3:.0f} ms | "
                f"{r['levelset_s'] * 1e3:.0f} ms | **{r['ratio']:.3f}** | ≤ 1.15 |")
        add("")
    if "training" in results:
        r = results["training"]
        add("| training iteration (fwd + bwd) | Mask R-CNN | LevelSet R-CNN | ratio | target |")
        add("|---|---|---|---|---|")
        add(f"| {r['size']}, 1 image, {r['positive_rois']} positive RoIs | {r['maskrcnn_s'] * 1e3:.0f} ms | "
            f"{r['levelset_s'] * 1e3:.0f} ms | **{r['ratio']:.3f}** | ≤ 1.25 |")
        if "memory" in results:
            m = results["memory"]
            kind = "max allocated" if results["device"].startswith("cuda") else "peak RSS"
            add(f"| peak memory ({kind}, fresh process) | {m['maskrcnn']['peak_mib']:.0f} MiB | "
                f"{m['levelset']['peak_mib']:.0f} MiB | **{m['ratio_peak']:.3f}** | ≤ 1.3 |")
            add(f"| peak memory above the built model | {m['maskrcnn']['above_model_mib']:.0f} MiB | "
                f"{m['levelset']['above_model_mib']:.0f} MiB | {m['ratio_above_model']:.3f} | |")
        add("")
    if "chan_vese" in results:
        c = results["chan_vese"]
        mem = c["memory"]
        add(f"| Chan-Vese module, N = {c['iterations']}, C = {c['channels']}, {c['side']}×{c['side']}, "
            f"{c['rois']} RoIs | reference (Eqs. 7–9 direct) | fast path | reference / fast |")
        add("|---|---|---|---|")
        add(f"| forward per RoI | {c['reference_fwd_ms_per_roi']:.2f} ms | {c['fast_fwd_ms_per_roi']:.2f} ms | "
            f"{c['speedup_fwd']:.2f}× |")
        add(f"| forward + backward per RoI | {c['reference_fwdbwd_ms_per_roi']:.2f} ms | "
            f"{c['fast_fwdbwd_ms_per_roi']:.2f} ms | {c['speedup_fwdbwd']:.2f}× |")
        add(f"| saved for backward per RoI (incl. F = {c['F_mib_per_roi']:.2f} MiB) | "
            f"{mem['reference']['saved_mib_per_roi']:.2f} MiB | {mem['fast']['saved_mib_per_roi']:.2f} MiB | "
            f"{mem['reference']['saved_mib_per_roi'] / mem['fast']['saved_mib_per_roi']:.1f}× |")
        add(f"| saved for backward per RoI, without F | {mem['reference']['saved_mib_per_roi_without_F']:.2f} MiB | "
            f"{mem['fast']['saved_mib_per_roi_without_F']:.2f} MiB | "
            f"{mem['reference']['saved_mib_per_roi_without_F'] / mem['fast']['saved_mib_per_roi_without_F']:.1f}× |")
        add(f"| one read of F (`F.sum()`) per RoI | {c['read_F_ms_per_roi']:.3f} ms | | |")
        add(f"| fast: one iteration / one read of F (target ≤ ~3) | forward **{c['fast_fwd_iter_over_read_F']:.2f}** | "
            f"fwd + bwd {c['fast_fwdbwd_iter_over_read_F']:.2f} | |")
        add("")
    if "modules" in results:
        m = results["modules"]
        add(f"| LevelSet R-CNN inference at {m['size']}: {m['box_head_rois']} proposals, {args.detections} "
            "RoIs in the mask branch | seconds | share |")
        add("|---|---|---|")
        for label, value in m["parts_s"].items():
            add(f"| {label} | {value:.3f} | {value / m['total_s'] * 100:.1f} % |")
        rest = m["total_s"] - sum(m["parts_s"].values())
        add(f"| rest (pooling, post-processing, pasting) | {rest:.3f} | {rest / m['total_s'] * 100:.1f} % |")
        add(f"| total | {m['total_s']:.3f} | |")
        add("")
    if "tsdf" in results:
        t = results["tsdf"]
        add("| targets per training image | Mask R-CNN (28×28 crops) | LevelSet R-CNN (TSDF 112 + 28) | "
            "share of the LevelSet training iteration |")
        add("|---|---|---|---|")
        share = ""
        if "training" in results:
            share = f"{t['tsdf_ms'] / (results['training']['levelset_s'] * 1e3) * 100:.1f} %"
        add(f"| {t['positive_rois']} positive RoIs | {t['maskrcnn_crops_ms']:.1f} ms | {t['tsdf_ms']:.1f} ms | {share} |")
        add("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:k]")
    parser.add_argument("--sizes", default="800x1333,1024x2048", help="inference sizes HxW, comma separated")
    parser.add_argument("--train-size", default="800x1333", type=parse_size, help="training image size HxW")
    parser.add_argument("--train-instances", type=int, default=20, help="ground-truth instances per training image")
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--chan-vese-rois", type=int, default=16)
    parser.add_argument("--parts", default="inference,modules,training,memory,chan_vese,tsdf")
    parser.add_argument("--quick", action="store_true", help="tiny images, small backbone, 1 repeat (smoke test)")
    parser.add_argument("--json", default=None, help="also write the raw numbers to this file")
    parser.add_argument("--levelset-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="config overrides for LevelSet R-CNN only (e.g. a lighter feature head), last option")
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args.train_size, args.train_instances, args.device,
                                       args.quick, threads, args.levelset_opts)))
        return None
    if args.quick:
        args.sizes, args.train_size = "128x192", (128, 192)
        args.repeats, args.warmup, args.chan_vese_rois, args.train_instances = 1, 1, 2, 4
        args.detections = min(args.detections, 20)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    parts = set(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = parts - {"inference", "training", "memory", "chan_vese", "tsdf", "modules"}
    if unknown:
        raise SystemExit(f"--parts: unknown {sorted(unknown)}")
    device = torch.device(args.device)
    desc = f"{device.type}"
    if device.type == "cuda":
        desc += f" ({torch.cuda.get_device_name(device)})"
    else:
        desc += f" ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    results = {"device": desc, "command": "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv or sys.argv[1:]))}

    models = None
    if parts & {"inference", "training", "tsdf", "modules"}:
        models, n_shared, n_total = build_models(device, args.detections, args.quick, args.levelset_opts)
        results["shared_parameters"] = f"{n_shared} of {n_total} LevelSet R-CNN tensors copied from Mask R-CNN"
    if "inference" in parts:
        results["inference"] = bench_inference(models, sizes, device, args.repeats, args.warmup, args.detections)
    if "modules" in parts:
        results["modules"] = bench_modules(models["levelset"], sizes[0], device, args.repeats, args.warmup)
    if "training" in parts:
        results["training"] = bench_training(models, args.train_size, args.train_instances, device, args.repeats,
                                             args.warmup)
    if "memory" in parts:
        results["memory"] = bench_memory(args.train_size, args.train_instances, device, args.quick, threads,
                                         args.levelset_opts)
    if "chan_vese" in parts:
        results["chan_vese"] = bench_chan_vese(device, args.chan_vese_rois, 64, 112, 3, max(args.repeats, 3),
                                               args.warmup)
    if "tsdf" in parts:
        results["tsdf"] = bench_tsdf(models, args.train_size, args.train_instances, device, max(args.repeats, 3),
                                     args.warmup)
    print(fmt_table(results, args))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
