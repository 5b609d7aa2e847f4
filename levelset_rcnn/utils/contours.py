"""Sub-pixel instance outlines: marching squares on the final level set φN (paper, section 5, "Implementation
Details": "if we apply marching squares to the final TSDF instead, we could obtain sub-pixel accuracy").

The zero level set of the TSDF φ (φ > 0 inside) is traced with :func:`skimage.measure.find_contours`, which
interpolates linearly between grid points, so the outline is sub-pixel accurate wherever φ is locally linear
(a TSDF is, near its zero crossing). RoI-frame polygons are mapped to image coordinates through the instance's
box, the same mapping detectron2's ``paste_masks_in_image`` uses: RoI grid cell ``(i, j)`` of an ``S × S`` grid
covers ``[x0 + j·w/S, x0 + (j+1)·w/S]``, so its centre ``j + 0.5`` maps to ``x0 + (j + 0.5)·w/S``.
Image coordinates follow COCO: ``(x, y)`` with the origin at the top-left *corner* of the top-left pixel.
"""
import numpy as np
import torch
from skimage import measure

__all__ = [
    "levelset_polygons",
    "roi_polygons_to_image",
    "polygon_area",
    "instances_to_coco_polygons",
]


def _to_numpy_2d(phi, name="phi"):
    if torch.is_tensor(phi):
        phi = phi.detach().float().cpu().numpy()
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 3 and phi.shape[0] == 1:
        phi = phi[0]
    if phi.ndim != 2:
        raise ValueError(f"{name} must be a 2-D level set (H, W) (or (1, H, W)), got shape {phi.shape}")
    if not np.isfinite(phi).all():
        raise ValueError(f"{name} has non-finite values: cannot trace its zero level set")
    return phi


def polygon_area(polygon):
    """Signed area of a closed ``(K, 2)`` ``(x, y)`` polygon (shoelace); > 0 counter-clockwise in a y-up frame."""
    x, y = np.asarray(polygon, dtype=np.float64).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def levelset_polygons(phi, level=0.0, holes=False):
    """Closed polygons of the ``level`` set of ``phi`` (inside: ``phi > level``) in the grid's pixel frame.

    Args:
        phi: ``(H, W)`` array or tensor, e.g. φN of one RoI.
        level: the iso-value (0 for a TSDF; 0.5 for a soft mask H(φ)).
        holes: also return the inner boundaries (holes); by default only outer boundaries.
    Returns:
        list of ``(K, 2)`` float64 arrays of ``(x, y)`` with ``(0, 0)`` the *centre* of pixel ``[0, 0]``,
        closed (last point == first point); outer boundaries have positive :func:`polygon_area`, holes negative.
        Regions touching the border are closed along the border (the grid is padded with "outside").
    """
    phi = _to_numpy_2d(phi)
    outside = min(float(phi.min()), level) - 1.0
    padded = np.pad(phi, 1, mode="constant", constant_values=outside)
    polygons = []
    for contour in measure.find_contours(padded, level):
        if len(contour) < 4:  # a closed contour has >= 3 distinct points + the repeated first
            continue
        xy = contour[:, ::-1] - 1.0  # (row, col) -> (x, y), undo the padding
        # find_contours keeps higher values on one fixed side: an outer boundary of a "phi > level" region has
        # positive shoelace area in (x, y), a hole negative (checked in tests/utils).
        is_hole = polygon_area(xy) < 0
        if is_hole and not holes:
            continue
        polygons.append(xy)
    return polygons


def roi_polygons_to_image(polygons, box, roi_size):
    """Map polygons from an ``S × S`` RoI grid (pixel-centre frame) to image coordinates (COCO frame).

    Args:
        polygons: list of ``(K, 2)`` ``(x, y)`` arrays from :func:`levelset_polygons`.
        box: ``(x0, y0, x1, y1)`` of the instance in the image.
        roi_size: ``S`` (int) or ``(S_h, S_w)``.
    """
    x0, y0, x1, y1 = (float(v) for v in (box.tolist() if torch.is_tensor(box) else box))
    sh, sw = (roi_size, roi_size) if np.isscalar(roi_size) else roi_size
    scale = np.array([(x1 - x0) / sw, (y1 - y0) / sh])
    offset = np.array([x0, y0])
    return [(np.asarray(p) + 0.5) * scale + offset for p in polygons]


def instances_to_coco_polygons(instances, image_id=None, field="pred_levelsets", level=0.0, min_points=3):
    """COCO-format results with polygon ``segmentation`` traced on the final level set of each instance.

    Args:
        instances (Instances): predictions in the image frame with ``pred_boxes`` and ``field``: the level sets
            ``(N, T, S, S)`` (the last of the T is used, i.e. φN of ``pred_levelsets``; enable them with
            ``model.roi_heads.inference_levelsets = True``) or ``(N, S, S)`` / ``(N, 1, S, S)`` TSDFs.
        image_id: stored in each record (COCO ``image_id``).
        level: iso-value of the outline (0 for TSDFs).
    Returns:
        list of dicts ``{"image_id", "category_id", "bbox", "score", "segmentation": [[x1, y1, x2, y2, ...], ...]}``
        (``category_id`` is the contiguous class id; map it with the dataset's metadata for COCO files).
        Holes are not represented (COCO polygons of one instance are merged by union).
    """
    if not instances.has(field):
        raise KeyError(
            f"instances have no {field!r}: set model.roi_heads.inference_levelsets = True before inference "
            f"(fields present: {sorted(instances.get_fields())})"
        )
    levelsets = instances.get(field).detach().float().cpu()
    if levelsets.dim() == 4:
        levelsets = levelsets[:, -1]
    if levelsets.dim() != 3:
        raise ValueError(f"{field} must be (N, T, S, S), (N, 1, S, S) or (N, S, S), got {tuple(levelsets.shape)}")
    boxes = instances.pred_boxes.tensor.detach().cpu()
    scores = instances.scores.detach().cpu() if instances.has("scores") else None
    classes = instances.pred_classes.detach().cpu() if instances.has("pred_classes") else None
    results = []
    for k in range(len(instances)):
        polys = roi_polygons_to_image(levelset_polygons(levelsets[k], level), boxes[k], tuple(levelsets.shape[-2:]))
        segmentation = [p[:-1].reshape(-1).round(3).tolist() for p in polys if len(p) - 1 >= min_points]
        x0, y0, x1, y1 = boxes[k].tolist()
        record = {
            "image_id": image_id,
            "category_id": int(classes[k]) if classes is not None else 0,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "segmentation": segmentation,
        }
        if scores is not None:
            record["score"] = float(scores[k])
        results.append(record)
    return results
