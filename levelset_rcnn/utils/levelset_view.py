"""Level-set pictures: what the unrolled Chan-Vese refinement (section 4.1, Eqs. 7–9) did to one instance.

For an instance with ``pred_levelsets`` ``(N + 1, S, S)`` (φ0 … φN in the RoI frame; enable them with
``model.roi_heads.inference_levelsets = True``) and ``pred_levelset_hparams`` ``(2N + 3,)``
(``[λ1, λ2, μ, ε_1 … ε_N, Δt_1 … Δt_N]``, split by :func:`~levelset_rcnn.modeling.chan_vese.split_hyperparameters`),
:func:`draw_levelset_view` draws

* panel 1: the image crop of the instance's box with the zero level sets of φ0 (dashed) and each φn drawn as
  sub-pixel contours (marching squares, :mod:`levelset_rcnn.utils.contours`);
* panels 2 … N + 2: each φn as a signed map (red inside, blue outside) with its zero contour;

and prints the learned hyperparameters in the title. :func:`format_hparams` gives the same text. N is the model's
configured number of Chan-Vese steps (``model.roi_heads.mask_head.num_iterations``), given by the caller.
"""
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..modeling.chan_vese import split_hyperparameters
from .contours import levelset_polygons, roi_polygons_to_image

__all__ = ["format_hparams", "hparams_dict", "draw_levelset_view", "save_levelset_views"]

_COLORS = ["#ffd400", "#ff7f0e", "#d62728", "#e377c2", "#9467bd", "#17becf", "#2ca02c"]


def hparams_dict(hparams, num_iterations):
    """``{"lambda1", "lambda2", "mu": float, "eps", "dt": [N floats]}`` from one instance's ``(2N + 3,)`` vector."""
    hp = torch.as_tensor(hparams).detach().float().cpu().reshape(1, -1)
    parts = split_hyperparameters(hp, num_iterations)
    return {k: (v[0].tolist() if v.dim() == 2 else float(v[0])) for k, v in parts.items()}


def format_hparams(hparams, num_iterations):
    """One line: ``λ1=… λ2=… μ=… ε=[…] Δt=[…]``."""
    d = hparams_dict(hparams, num_iterations)
    eps = ", ".join(f"{v:.3g}" for v in d["eps"])
    dt = ", ".join(f"{v:.3g}" for v in d["dt"])
    return f"λ1={d['lambda1']:.3g}  λ2={d['lambda2']:.3g}  μ={d['mu']:.3g}  ε_n=[{eps}]  Δt_n=[{dt}]"


def _crop(image_rgb, box, margin):
    h, w = image_rgb.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    cx0, cy0 = int(max(0, np.floor(x0 - mx))), int(max(0, np.floor(y0 - my)))
    cx1, cy1 = int(min(w, np.ceil(x1 + mx))), int(min(h, np.ceil(y1 + my)))
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"box {box} lies outside the {w}x{h} image")
    return image_rgb[cy0:cy1, cx0:cx1], (cx0, cy0, cx1, cy1)


def draw_levelset_view(image_rgb, box, levelsets, hparams=None, *, num_iterations, title=None, margin=0.1,
                       panel_size=2.6):
    """Draw one instance's level sets; returns the figure as an RGB ``uint8`` array.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 image the box refers to.
        box: ``(x0, y0, x1, y1)`` instance box in that image.
        levelsets: ``(N + 1, S, S)`` φ0 … φN of the instance (RoI frame, φ > 0 inside).
        hparams: ``(2N + 3,)`` learned hyperparameters, or None (e.g. TSDF-only models).
        num_iterations: N, the model's number of Chan-Vese steps.
        title: text before the hyperparameters (e.g. class and score).
        margin: context around the box in the crop, as a fraction of the box size.
    """
    levelsets = torch.as_tensor(levelsets).detach().float().cpu()
    num_steps = num_iterations + 1
    if levelsets.dim() != 3 or levelsets.shape[0] != num_steps:
        raise ValueError(f"levelsets must be (N + 1, S, S) = ({num_steps}, S, S) for one instance of a model with "
                         f"N = {num_iterations} Chan-Vese steps, got {tuple(levelsets.shape)}")
    box = [float(v) for v in (box.tolist() if torch.is_tensor(box) else box)]
    crop, (cx0, cy0, cx1, cy1) = _crop(np.asarray(image_rgb), box, margin)

    # a figure of its own on the Agg canvas: no pyplot state, the user's matplotlib backend is left alone
    fig = Figure(figsize=(panel_size * (num_steps + 1), panel_size + 0.7))
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, num_steps + 1)
    ax = axes[0]
    ax.imshow(crop, extent=(cx0, cx1, cy1, cy0), interpolation="nearest")
    ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, lw=0.8,
                               ec="white", ls=":"))
    for n in range(num_steps):
        color = _COLORS[n % len(_COLORS)]
        polys = roi_polygons_to_image(levelset_polygons(levelsets[n], holes=True), box, tuple(levelsets.shape[-2:]))
        for i, p in enumerate(polys):
            ax.plot(p[:, 0], p[:, 1], color=color, lw=1.4 if n == num_steps - 1 else 1.0,
                    ls="--" if n == 0 else "-", label=f"φ{n}" if i == 0 else None)
    ax.set_xlim(cx0, cx1)
    ax.set_ylim(cy1, cy0)
    ax.set_title("zero level sets", fontsize=8)
    ax.legend(fontsize=6, loc="lower right", framealpha=0.6)
    ax.axis("off")

    vmax = float(levelsets.abs().max().clamp(min=1e-6))
    for n in range(num_steps):
        ax = axes[n + 1]
        phi = levelsets[n].numpy()
        ax.imshow(phi, cmap="coolwarm", vmin=-vmax, vmax=vmax, interpolation="nearest")
        for p in levelset_polygons(phi, holes=True):
            ax.plot(p[:, 0], p[:, 1], color="black", lw=0.8)
        inside = float((phi > 0).mean()) * 100
        label = f"φ{n}  (inside {inside:.1f} %)"
        if n > 0:  # what the refinement did so far: largest change of φ and pixels that changed side
            change = (levelsets[n] - levelsets[0]).abs().max()
            flipped = int(((levelsets[n] > 0) != (levelsets[0] > 0)).sum())
            label += f"\nmax|φ{n}−φ0|={float(change):.2f}, {flipped} px flipped"
        ax.set_title(label, fontsize=8)
        ax.axis("off")

    text = title or ""
    if hparams is not None:
        text = (text + "\n" if text else "") + format_hparams(hparams, num_iterations)
    if text:
        fig.suptitle(text, fontsize=8)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_levelset_views(image_rgb, instances, output_prefix, *, num_iterations, indices=None, top_k=3,
                        class_names=None):
    """Save one PNG per chosen instance (``<output_prefix>_inst<k>.png``); returns ``[(path, hparams text)]``.

    Args:
        instances (Instances): predictions in the image frame with ``pred_levelsets`` (and optionally
            ``pred_levelset_hparams``, ``scores``, ``pred_classes``).
        num_iterations: N, the model's number of Chan-Vese steps (``model.roi_heads.mask_head.num_iterations``).
        indices: which instances; default the ``top_k`` highest-scoring.
    """
    from PIL import Image

    if not instances.has("pred_levelsets"):
        raise KeyError(
            "instances have no 'pred_levelsets': set model.roi_heads.inference_levelsets = True before inference"
        )
    instances = instances.to(torch.device("cpu"))
    if indices is None:
        order = torch.argsort(instances.scores, descending=True) if instances.has("scores") else torch.arange(
            len(instances))
        indices = order[:top_k].tolist()
    written = []
    for k in indices:
        if not 0 <= k < len(instances):
            raise IndexError(f"instance index {k} out of range: the image has {len(instances)} predictions")
        label = ""
        if instances.has("pred_classes"):
            c = int(instances.pred_classes[k])
            label = class_names[c] if class_names and c < len(class_names) else f"class {c}"
        if instances.has("scores"):
            label += f" {float(instances.scores[k]):.2f}"
        hp = instances.pred_levelset_hparams[k] if instances.has("pred_levelset_hparams") else None
        picture = draw_levelset_view(image_rgb, instances.pred_boxes.tensor[k], instances.pred_levelsets[k], hp,
                                     num_iterations=num_iterations, title=f"instance {k}: {label.strip()}")
        path = f"{output_prefix}_inst{k}.png"
        Image.fromarray(picture).save(path)
        text = format_hparams(hp, num_iterations) if hp is not None else "(no hyperparameters)"
        written.append((path, text))
    return written
