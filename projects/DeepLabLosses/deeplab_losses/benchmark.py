"""Training-step overhead of the extra losses: CE vs CE+LS vs CE+SEMEDA (vs CE+Sobel), interleaved in one run.

Each variant is the same model (same seed, same initial weights) built from one config with a different
``MODEL.DEEPLAB_LOSSES.EXTRA``; one timed step = forward + backward + SGD step on the same synthetic batch
(images of noise, label maps of generated shapes resized to the crop, class ids spread over all classes).
Steps are interleaved (CE, LS, SEMEDA, ... repeated) so that machine load affects all variants alike; the
median step time of each variant and its ratio to CE are reported. SEMEDA's g is a randomly initialised net
marked as trained: its weights do not change the cost.
"""
import statistics
import time

import numpy as np
import torch
from detectron2.modeling import build_model

from .data.generated import render_semantic_image
from .engine import setup_cfg

__all__ = ["make_batch", "benchmark_overhead"]

VARIANTS = {"CE": [], "CE+LS": ["level_set"], "CE+SEMEDA": ["semeda"], "CE+Sobel": ["sobel"]}


def make_batch(batch, height, width, num_classes, seed=0):
    """``batch`` detectron2 inputs with uint8-range noise images and generated-shape label maps."""
    rng = np.random.default_rng(seed)
    inputs = []
    for _ in range(batch):
        _, labels = render_semantic_image(rng)
        lab = torch.as_tensor(labels, dtype=torch.long)[None, None].float()
        lab = torch.nn.functional.interpolate(lab, size=(height, width), mode="nearest")[0, 0].long()
        ids = torch.as_tensor(rng.permutation(num_classes)[:5] if num_classes >= 5 else np.arange(5) % num_classes)
        inputs.append({"image": torch.rand(3, height, width) * 255, "sem_seg": ids[lab]})
    return inputs


def benchmark_overhead(config_file, variants=("CE", "CE+LS", "CE+SEMEDA"), size=(256, 256), batch=2, repeats=5,
                       warmup=1, opts=(), threads=None):
    """Returns ``{variant: {"median_s", "all_s", "ratio"}}`` (ratio = median / CE median)."""
    if threads:
        torch.set_num_threads(int(threads))
    h, w = size
    models, optims = {}, {}
    base_opts = list(opts) + ["MODEL.WEIGHTS", "", "INPUT.CROP.SIZE", f"({h}, {w})", "INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "absolute",
                              "MODEL.SEMEDA.WEIGHTS", ""]
    for name in variants:
        extra = VARIANTS[name]
        cfg = setup_cfg(config_file, base_opts + ["MODEL.DEEPLAB_LOSSES.EXTRA", str(extra)])
        torch.manual_seed(0)
        model = build_model(cfg)
        model.train()
        aux = model.sem_seg_head.aux_losses
        if "semeda" in aux.losses:
            aux.losses["semeda"].net.trained_iterations.fill_(1)  # timing only (see module docstring)
        models[name] = model
        optims[name] = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    inputs = make_batch(batch, h, w, num_classes)
    times = {n: [] for n in variants}
    for r in range(warmup + repeats):
        for name in variants:
            model, opt = models[name], optims[name]
            start = time.perf_counter()
            losses = model(inputs)
            total = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if torch.cuda.is_available() and cfg.MODEL.DEVICE.startswith("cuda"):
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if not torch.isfinite(total):
                raise FloatingPointError(f"benchmark: non-finite loss in {name}: { {k: float(v) for k, v in losses.items()} }")
            if r >= warmup:
                times[name].append(elapsed)
    ce = statistics.median(times[variants[0]])
    return {n: {"median_s": statistics.median(t), "all_s": t, "ratio": statistics.median(t) / ce}
            for n, t in times.items()}
