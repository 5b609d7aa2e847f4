"""Sub-pixel outlines by marching squares on a TSDF (levelset_rcnn/utils/contours.py)."""
import json
import math

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.structures import Boxes, Instances

from levelset_rcnn.utils.contours import (
    instances_to_coco_polygons,
    levelset_polygons,
    polygon_area,
    roi_polygons_to_image,
)


def _circle_tsdf(side, cx, cy, r):
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    return r - np.hypot(xx - cx, yy - cy)  # > 0 inside, signed distance in pixels


@pytest.mark.parametrize("r", [8.0, 11.3, 30.0])  # chord error of marching squares: 1.3 % at r = 4 px
def test_circle_polygon_area_is_within_one_percent_of_pi_r2(r):
    phi = _circle_tsdf(112, 55.37, 52.81, r)
    (poly,) = levelset_polygons(phi)
    area = polygon_area(poly)
    assert abs(area - math.pi * r * r) / (math.pi * r * r) < 0.01
    # sub-pixel: every vertex lies on the circle to a small fraction of a pixel
    radii = np.hypot(poly[:, 0] - 55.37, poly[:, 1] - 52.81)
    assert np.abs(radii - r).max() < 0.05
    assert np.allclose(poly[0], poly[-1])


def test_circle_in_an_roi_maps_to_image_coordinates_through_the_box():
    side, r = 56, 20.0
    phi = torch.as_tensor(_circle_tsdf(side, 27.5, 27.5, r), dtype=torch.float32)  # centred in the RoI
    box = (10.0, 20.0, 10.0 + 112.0, 20.0 + 56.0)  # w = 2 S, h = S: an ellipse with semi-axes 2r, r
    (poly,) = roi_polygons_to_image(levelset_polygons(phi), box, side)
    assert abs(polygon_area(poly) - math.pi * (2 * r) * r) / (math.pi * 2 * r * r) < 0.01
    centre = poly[:-1].mean(axis=0)
    assert np.allclose(centre, [10.0 + 56.0, 20.0 + 28.0], atol=0.05)  # the box centre


def test_holes_are_separate_and_optional_and_border_regions_are_closed():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    d = np.hypot(xx - 31.5, yy - 31.5)
    ring = np.minimum(20.0 - d, d - 8.0)
    outer = levelset_polygons(ring)
    both = levelset_polygons(ring, holes=True)
    assert len(outer) == 1 and len(both) == 2
    areas = sorted(polygon_area(p) for p in both)
    assert areas[0] < 0 < areas[1]  # hole negative, outer positive
    assert abs(-areas[0] - math.pi * 64) / (math.pi * 64) < 0.02
    full = levelset_polygons(np.ones((5, 7)))  # everything inside: closed along the grid border
    assert len(full) == 1 and polygon_area(full[0]) > 0
    assert levelset_polygons(-np.ones((5, 5))) == []


def test_bad_level_sets_are_clear_errors():
    with pytest.raises(ValueError, match="2-D level set"):
        levelset_polygons(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        levelset_polygons(np.full((4, 4), np.nan))


def test_coco_polygons_rasterise_to_the_level_set_mask():
    side = 56
    image_size = (100, 120)
    phis = torch.stack([
        torch.as_tensor(_circle_tsdf(side, 27.5, 27.5, 22.0), dtype=torch.float32),
        torch.as_tensor(np.minimum(_circle_tsdf(side, 20.0, 30.0, 15.0), 25.0), dtype=torch.float32),
    ])
    levelsets = torch.stack([phis - 1.0, phis], dim=1)  # (N, T = 2, S, S): the last one is used
    inst = Instances(image_size)
    inst.pred_boxes = Boxes(torch.tensor([[10.0, 5.0, 66.0, 61.0], [50.0, 40.0, 110.0, 90.0]]))
    inst.scores = torch.tensor([0.9, 0.8])
    inst.pred_classes = torch.tensor([0, 2])
    inst.pred_levelsets = levelsets
    records = instances_to_coco_polygons(inst, image_id=7)
    json.dumps(records)  # JSON-serialisable
    assert [r["category_id"] for r in records] == [0, 2] and records[0]["image_id"] == 7
    # compare with the level set pasted into the image by detectron2's usual path (H(φ) > 0.5 <=> φ > 0)
    from detectron2.layers import paste_masks_in_image

    pasted = paste_masks_in_image((phis > 0).float(), inst.pred_boxes.tensor, image_size).numpy()
    h, w = image_size
    for record, mask in zip(records, pasted):
        rle = mask_util.merge(mask_util.frPyObjects(record["segmentation"], h, w))
        raster = mask_util.decode(rle).astype(bool)
        iou = (raster & mask).sum() / (raster | mask).sum()
        assert iou > 0.95, iou


def test_missing_levelsets_field_names_the_switch():
    inst = Instances((10, 10))
    inst.pred_boxes = Boxes(torch.zeros(0, 4))
    with pytest.raises(KeyError, match="inference_levelsets"):
        instances_to_coco_polygons(inst)
