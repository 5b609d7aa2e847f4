"""TSDF targets (section 4.1/4.2) against scipy's exact Euclidean distance transform."""
import numpy as np
import pytest
import torch
from detectron2.structures import BitMasks, PolygonMasks
from detectron2.structures.masks import polygons_to_bitmask
from scipy.ndimage import distance_transform_edt

from levelset_rcnn.modeling.tsdf import roi_padding, truncated_signed_distance, tsdf_targets, upsample_tsdf


def reference_tsdf(mask, truncation):
    """φ = d_in − ½ inside, −(d_out − ½) outside, truncated and normalised (module docstring convention)."""
    signed = np.where(mask, distance_transform_edt(mask) - 0.5, 0.5 - distance_transform_edt(~mask))
    return np.clip(signed, -truncation, truncation) / truncation


def shapes(size=64):
    yy, xx = np.mgrid[:size, :size]
    ring = ((yy - 32) ** 2 + (xx - 30) ** 2 < 22 ** 2) & ~((yy - 34) ** 2 + (xx - 26) ** 2 < 8 ** 2)  # a hole
    parts = ((yy - 15) ** 2 + (xx - 15) ** 2 < 9 ** 2) | ((yy - 45) ** 2 + (xx - 48) ** 2 < 11 ** 2)  # two parts
    thin = (np.abs(yy - xx) < 1.5) & (xx > 5) & (xx < 58)  # a thin diagonal stroke
    speck = np.zeros((size, size), bool)
    speck[30, 30] = True  # a single pixel
    return [ring, parts, thin, speck, ring | thin]


@pytest.mark.parametrize("truncation", [2.0, 4.0, 8.0, 5.5])
def test_tsdf_equals_scipy_edt(truncation):
    masks = shapes()
    ours = truncated_signed_distance(torch.from_numpy(np.stack(masks)), truncation).numpy()
    for k, mask in enumerate(masks):
        padded = np.pad(mask, 20, mode="edge")  # borders do not count as boundaries
        ref = reference_tsdf(padded, truncation)[20:-20, 20:-20]
        np.testing.assert_allclose(ours[k], ref, atol=1e-6, err_msg=f"shape {k}")
    assert ours.min() >= -1 and ours.max() <= 1


def test_tsdf_sign_and_truncation():
    mask = torch.zeros(1, 40, 40, dtype=torch.bool)
    mask[0, 10:30, 10:30] = True
    t = truncated_signed_distance(mask, 4.0)[0]
    assert t[20, 20] == 1.0 and t[0, 0] == -1.0
    assert t[10, 20] == pytest.approx(0.5 / 4) and t[9, 20] == pytest.approx(-0.5 / 4)
    with pytest.raises(ValueError, match="truncation"):
        truncated_signed_distance(mask, 0.0)


def _image_masks():
    h, w = 80, 100
    yy, xx = np.mgrid[:h, :w]
    a = ((yy - 40) ** 2 + (xx - 50) ** 2 < 25 ** 2) & ~((yy - 40) ** 2 + (xx - 50) ** 2 < 7 ** 2)
    b = np.zeros((h, w), bool)
    b[0:50, 0:30] = True  # touches the image border
    return np.stack([a, b])


@pytest.mark.parametrize("side,truncation", [(28, 2.0), (112, 8.0)])
def test_roi_targets_match_edt_of_the_cropped_full_mask(side, truncation):
    """Inside a RoI that cuts the object, distances still see the mask beyond the RoI border."""
    masks = _image_masks()
    boxes = torch.tensor([[25.0, 15.0, 75.0, 65.0], [5.0, 20.0, 40.0, 70.0]])
    tsdf, mask = tsdf_targets(BitMasks(torch.from_numpy(masks)), boxes, side, truncation)
    assert tsdf.shape == (2, side, side) and mask.shape == (2, side, side)
    assert torch.isfinite(tsdf).all() and tsdf.abs().max() <= 1
    # mask and TSDF agree on the sign
    assert torch.equal(mask > 0.5, tsdf > 0)
    # Exact check where one RoI pixel is one image pixel: the RoI target is the crop of the full-image TSDF.
    box = torch.tensor([[10.0, 10.0, 10.0 + side, 10.0 + side]])
    h = w = side + 40
    yy, xx = np.mgrid[:h, :w]
    disk = (yy - h / 2) ** 2 + (xx - w / 2 + 3) ** 2 < (0.45 * side) ** 2
    t, m = tsdf_targets(BitMasks(torch.from_numpy(disk[None])), box, side, truncation)
    ref = reference_tsdf(np.pad(disk, 30, mode="edge"), truncation)[30:-30, 30:-30][10:10 + side, 10:10 + side]
    np.testing.assert_allclose(t[0].numpy(), ref, atol=1e-5)


def test_polygon_and_bitmask_targets_agree():
    square = [np.array([10, 10, 50, 10, 50, 40, 10, 40], dtype=np.float64)]
    poly = PolygonMasks([square])
    bit = BitMasks(torch.from_numpy(polygons_to_bitmask(square, 60, 60))[None])
    boxes = torch.tensor([[5.0, 5.0, 55.0, 45.0]])
    tp, mp = tsdf_targets(poly, boxes, 28, 2.0)
    tb, mb = tsdf_targets(bit, boxes, 28, 2.0)
    assert (mp != mb).float().mean() < 0.03
    assert (tp - tb).abs().mean() < 0.05


def test_28_and_112_targets_describe_the_same_function():
    masks = _image_masks()
    boxes = torch.tensor([[25.0, 15.0, 75.0, 65.0]])
    t28, _ = tsdf_targets(BitMasks(torch.from_numpy(masks[:1])), boxes, 28, 2.0)
    t112, _ = tsdf_targets(BitMasks(torch.from_numpy(masks[:1])), boxes, 112, 8.0)
    up = upsample_tsdf(t28[:, None], 112)[:, 0]
    assert (up - t112).abs().mean() < 0.06
    assert ((up > 0) == (t112 > 0)).float().mean() > 0.97


def test_empty_inputs_and_degenerate_boxes():
    masks = BitMasks(torch.zeros(0, 20, 20, dtype=torch.bool))
    t, m = tsdf_targets(masks, torch.zeros(0, 4), 28, 2.0)
    assert t.shape == (0, 28, 28) and m.shape == (0, 28, 28)
    one = torch.zeros(2, 20, 20, dtype=torch.bool)
    one[0, 5, 5] = True  # 1-pixel object; instance 1 is empty
    boxes = torch.tensor([[5.0, 5.0, 6.0, 6.0], [3.0, 3.0, 3.0, 3.0]])  # 1-pixel and zero-area boxes
    t, m = tsdf_targets(BitMasks(one), boxes, 28, 2.0)
    assert torch.isfinite(t).all()
    assert m[1].sum() == 0 and (t[1] == -1).all()
    assert roi_padding(2.0) == 3 and roi_padding(7.5) == 9


H, W = 96, 128


# ----------------------------------------------------------------------------------------------------------
# TSDF targets of RoIs at the image border and of degenerate RoIs
# ----------------------------------------------------------------------------------------------------------
def _check_targets(tsdf, mask, n, side):
    assert tuple(tsdf.shape) == (n, side, side) and tuple(mask.shape) == (n, side, side)
    assert torch.isfinite(tsdf).all()
    assert tsdf.min() >= -1 and tsdf.max() <= 1
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    # the sign of the TSDF agrees with the mask
    assert torch.all((tsdf > 0) == (mask > 0.5))


@pytest.mark.parametrize("kind", ["bitmask", "polygon"])
@pytest.mark.parametrize("side,truncation", [(28, 2.0), (56, 4.0)])
def test_tsdf_of_roi_partly_outside_the_image(kind, side, truncation):
    if kind == "bitmask":
        m = np.zeros((3, H, W), dtype=bool)
        m[0, 0:30, 0:40] = True  # object in the top-left corner
        m[1] = True  # whole image
        m[2, 60:96, 100:128] = True  # bottom-right corner
        gt = BitMasks(torch.from_numpy(m))
    else:
        gt = PolygonMasks([
            [np.array([0, 0, 40, 0, 40, 30, 0, 30], dtype=np.float64)],
            [np.array([0, 0, W, 0, W, H, 0, H], dtype=np.float64)],
            [np.array([100, 60, 128, 60, 128, 96, 100, 96], dtype=np.float64)],
        ])
    boxes = torch.tensor([[-20.0, -10, 40, 50], [-30, -30, W + 30, H + 30], [90, 50, 150, 120]])
    tsdf, mask = tsdf_targets(gt, boxes, side, truncation)
    _check_targets(tsdf, mask, 3, side)
    # RoI 0: the object fills its bottom-right part, the part outside the image is background
    assert mask[0, 0, 0] == 0 and mask[0, side // 2, side // 2] == 1
    assert tsdf[0, 0, 0] == -1


def test_tsdf_of_degenerate_rois():
    m = np.zeros((4, H, W), dtype=bool)
    m[1, 30, 30] = True
    m[3] = True
    gt = BitMasks(torch.from_numpy(m))
    boxes = torch.tensor([[40.0, 40, 40, 40], [30, 30, 31, 31], [10, 10, 50, 60], [0, 0, W, H]])
    tsdf, mask = tsdf_targets(gt, boxes, 28, 2.0)
    _check_targets(tsdf, mask, 4, 28)
    assert mask[2].sum() == 0 and torch.all(tsdf[2] == -1)  # empty mask
    assert mask[3].sum() > 0  # the whole-image mask fills its box
    # entirely outside the image
    tsdf, mask = tsdf_targets(gt[:1], torch.tensor([[-60.0, -50, -10, -5]]), 28, 2.0)
    _check_targets(tsdf, mask, 1, 28)
    assert mask.sum() == 0 and torch.all(tsdf == -1)
