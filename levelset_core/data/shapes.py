"""Rendering of the generated "shapes" images (no download, fully deterministic), shared by both projects.

Every image (default 128x128) shows 1-4 textured objects of 4 classes on a textured, noisy background:

* ``ring``: an elliptic disk with an (often off-centre) hole: the mask has an enclosed background component;
* ``blob``: a smooth star-shaped region with a random Fourier boundary (curved, concave parts);
* ``pair``: ONE object made of two separate ellipses a few pixels apart (2 connected components);
* ``wrench``: a disk head with an open jaw plus a thin handle 2-4 px wide (sometimes ending in a knob).

Each class has a typical hue (red, green, blue, yellow) with random variation; objects carry a texture
(stripes, checker or smooth noise with random period, orientation and phase) and a shading gradient.
Objects are drawn in random order and later ones occlude earlier ones: an annotation is the VISIBLE part
of its object, exactly the pixels drawn with that object's texture. A placement that would leave an earlier
object with less than ``MIN_VISIBLE_FRACTION`` of its area or less than ``MIN_VISIBLE_PIXELS`` pixels is
rejected (another place is tried); an object that still ends up below these limits is removed from the image
and from the annotations.

:func:`render_shapes_image` draws one image from a ``numpy.random.Generator`` (the only source of randomness):
the same generator state gives the same image. Used by LevelSet R-CNN's instance dataset
(``levelset_rcnn.data.synthetic_shapes``: COCO json + PNG files) and the DeepLabLosses semantic dataset
(``deeplab_losses.data.generated``); both cache their files with :mod:`levelset_core.data.cache`.
"""
import numpy as np
from scipy import ndimage

__all__ = [
    "GENERATOR_VERSION",
    "SHAPES_CLASS_NAMES",
    "SHAPES_CLASS_COLORS",
    "DEFAULT_IMAGE_SIZE",
    "MIN_OBJECT_EXTENT",
    "render_shapes_image",
]

#: Bump when the rendered content changes: cached data of another version are regenerated.
GENERATOR_VERSION = 1
SHAPES_CLASS_NAMES = ("ring", "blob", "pair", "wrench")
#: RGB colours (0-255) matching each class's typical hue, for visualisation (``thing_colors``).
SHAPES_CLASS_COLORS = ((224, 52, 40), (56, 184, 64), (48, 96, 224), (232, 188, 32))
_CLASS_HUES = (0.0, 0.333, 0.61, 0.13)
DEFAULT_IMAGE_SIZE = (128, 128)
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_PIXELS = 60
# Bounding-box side limits of one object (pixels, at the default image size).
_MIN_EXTENT, _MAX_EXTENT = 22, 64
#: the smallest object side; an image needs sides of at least twice this
MIN_OBJECT_EXTENT = _MIN_EXTENT


# ----------------------------------------------------------------------------------------------------------
# Shapes: each sampler returns a boolean mask on a local canvas (cropped tight by the caller).
# ----------------------------------------------------------------------------------------------------------
def _local_grid(radius, rng):
    """Pixel-centre coordinates of a square canvas around a centre with a random sub-pixel offset."""
    size = int(np.ceil(2 * radius)) + 4
    cy, cx = size / 2.0 + rng.uniform(-0.5, 0.5, size=2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    return xx - cx, yy - cy


def _rotate(x, y, theta):
    c, s = np.cos(theta), np.sin(theta)
    return x * c + y * s, -x * s + y * c


def _ellipse_radius(a, b, phi):
    """Distance from the centre to the boundary of an axis-aligned ellipse (semi-axes a, b) at angle phi."""
    return a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2)


def _segment_distance(u, v, x0, x1):
    """Distance from (u, v) to the segment from (x0, 0) to (x1, 0)."""
    du = np.clip(u, x0, x1) - u
    return np.sqrt(du * du + v * v)


def _ring(rng):
    outer = rng.uniform(12.0, 28.0)
    minor = outer * rng.uniform(0.8, 1.0)
    x, y = _local_grid(outer, rng)
    u, v = _rotate(x, y, rng.uniform(0, np.pi))
    disk = (u / outer) ** 2 + (v / minor) ** 2 <= 1.0
    hole_r = minor * rng.uniform(0.35, 0.55)
    # keep the ring at least ~3.5 px wide everywhere so the hole stays enclosed
    max_offset = max(minor - hole_r - 3.5, 0.0)
    offset = max_offset * rng.uniform(0.0, 0.75)
    phi = rng.uniform(0, 2 * np.pi)
    hole = (u - offset * np.cos(phi)) ** 2 + (v - offset * np.sin(phi)) ** 2 <= hole_r**2
    return disk & ~hole


def _blob(rng):
    radius = rng.uniform(12.0, 24.0)
    amplitudes = rng.uniform(0.0, 1.0, size=4) * np.array([0.22, 0.14, 0.09, 0.06])
    phases = rng.uniform(0, 2 * np.pi, size=4)
    stretch = rng.uniform(0.8, 1.0)
    x, y = _local_grid(radius * 1.55, rng)
    u, v = _rotate(x, y, rng.uniform(0, np.pi))
    v = v / stretch
    angle = np.arctan2(v, u)
    boundary = np.ones_like(angle)
    for k, (amp, phase) in enumerate(zip(amplitudes, phases), start=2):
        boundary += amp * np.cos(k * angle + phase)
    return np.hypot(u, v) <= radius * boundary


def _pair(rng):
    axes = []
    for _ in range(2):
        a = rng.uniform(7.0, 13.0)
        axes.append((a, a * rng.uniform(0.55, 1.0), rng.uniform(0, np.pi)))
    direction = rng.uniform(0, 2 * np.pi)
    gap = rng.uniform(3.0, 8.0)
    r0 = _ellipse_radius(axes[0][0], axes[0][1], direction - axes[0][2])
    r1 = _ellipse_radius(axes[1][0], axes[1][1], direction - axes[1][2])
    dist = r0 + r1 + gap
    x, y = _local_grid(dist / 2 + 17.0, rng)
    # centres along `direction`: part 0 spans [c0 - r0, c0 + r0], part 1 starts `gap` later; both centred on 0
    centres = ((r0 - r1 - dist) / 2, (r0 - r1 + dist) / 2)
    parts = []
    for (a, b, theta), c in zip(axes, centres):
        px = x - c * np.cos(direction)
        py = y - c * np.sin(direction)
        u, v = _rotate(px, py, theta)
        parts.append((u / a) ** 2 + (v / b) ** 2 <= 1.0)
    # the two parts must be separate by at least 2 px everywhere (not just along the centre line)
    if np.any(ndimage.binary_dilation(parts[0], iterations=2) & parts[1]):
        return None
    return parts[0] | parts[1]


def _wrench(rng):
    head = rng.uniform(8.0, 13.0)
    handle = rng.uniform(16.0, 34.0)
    half_width = rng.uniform(1.0, 1.8)  # handle 2-4 px wide
    knob = rng.uniform(3.0, 4.5) if rng.uniform() < 0.5 else 0.0
    x, y = _local_grid((2 * head + handle + knob) / 2 + 2, rng)
    u, v = _rotate(x, y, rng.uniform(0, 2 * np.pi))
    u = u + (handle + knob) / 2  # the tool spans u in [-head, head + handle + knob]: centre it on the canvas
    disk = u * u + v * v <= head * head
    slot_width = head * rng.uniform(0.45, 0.7)
    slot_depth = head * rng.uniform(0.6, 1.0)
    slot = (np.abs(v) <= slot_width / 2) & (u <= -head + slot_depth)
    mask = (disk & ~slot) | (_segment_distance(u, v, 0.6 * head, head + handle) <= half_width)
    if knob > 0:
        mask |= (u - head - handle) ** 2 + v * v <= knob * knob
    return mask


_SAMPLERS = (_ring, _blob, _pair, _wrench)


def _crop(mask):
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _sample_shape(rng, category, max_side):
    for _ in range(50):
        mask = _SAMPLERS[category](rng)
        mask = None if mask is None else _crop(mask)
        if mask is None:
            continue
        side = max(mask.shape)
        if _MIN_EXTENT <= side <= min(_MAX_EXTENT, max_side) or (side <= max_side and max_side < _MIN_EXTENT):
            return mask
    raise RuntimeError(f"Could not sample a '{SHAPES_CLASS_NAMES[category]}' of at most {max_side} px")


# ----------------------------------------------------------------------------------------------------------
# Colours and textures
# ----------------------------------------------------------------------------------------------------------
def _hsv_to_rgb(h, s, v):
    h = np.mod(h, 1.0) * 6.0
    i = np.floor(h).astype(np.int64) % 6
    f = h - np.floor(h)
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def _pattern(rng, xx, yy):
    """A zero-mean texture in about [-1, 1]: stripes, checker or smooth noise (random kind, scale, phase)."""
    kind = rng.integers(0, 3)
    u, v = _rotate(xx, yy, rng.uniform(0, np.pi))
    if kind == 0:  # stripes
        return np.sin(2 * np.pi * u / rng.uniform(5.0, 12.0) + rng.uniform(0, 2 * np.pi))
    if kind == 1:  # checker
        cell = rng.uniform(3.0, 7.0)
        phase = rng.uniform(0, 2 * cell, size=2)
        return np.sign(np.sin(np.pi * (u + phase[0]) / cell) * np.sin(np.pi * (v + phase[1]) / cell))
    noise = ndimage.gaussian_filter(rng.standard_normal(xx.shape), sigma=rng.uniform(1.0, 2.0))
    return noise / (np.abs(noise).max() + 1e-6)


def _smooth_field(rng, xx, yy, waves=3):
    """A low-frequency field in about [-1, 1] (sum of random cosines)."""
    field = np.zeros_like(xx)
    for _ in range(waves):
        period = rng.uniform(40.0, 160.0)
        angle = rng.uniform(0, 2 * np.pi)
        field += np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    return field / waves


def _background(rng, xx, yy):
    hue = np.full_like(xx, rng.uniform())
    sat = np.clip(rng.uniform(0.0, 0.15) + 0.05 * _smooth_field(rng, xx, yy), 0.0, 0.2)
    val = rng.uniform(0.3, 0.65) + 0.12 * _smooth_field(rng, xx, yy) + rng.uniform(0.02, 0.06) * _pattern(rng, xx, yy)
    return _hsv_to_rgb(hue, sat, np.clip(val, 0.0, 1.0))


def _object_texture(rng, category, xx, yy, image_size):
    """Texture of one object on the pixel coordinates ``xx``, ``yy`` (its bounding-box window)."""
    hue = _CLASS_HUES[category] + rng.normal(0.0, 0.02)
    sat = rng.uniform(0.55, 0.9)
    val = rng.uniform(0.55, 0.9)
    pattern = _pattern(rng, xx, yy)
    shade_angle = rng.uniform(0, 2 * np.pi)
    shading = rng.uniform(0.0, 0.12) * (xx * np.cos(shade_angle) + yy * np.sin(shade_angle)) / max(image_size)
    v = np.clip(val + rng.uniform(0.08, 0.18) * pattern + shading, 0.0, 1.0)
    s = np.clip(sat + rng.uniform(0.0, 0.08) * pattern, 0.0, 1.0)
    return _hsv_to_rgb(np.full_like(xx, hue), s, v)


# ----------------------------------------------------------------------------------------------------------
# One image
# ----------------------------------------------------------------------------------------------------------
def render_shapes_image(rng, image_size=DEFAULT_IMAGE_SIZE, min_objects=1, max_objects=4):
    """Draw one image.

    Args:
        rng (numpy.random.Generator): the only source of randomness.
        image_size (tuple[int, int]): (H, W).

    Returns:
        image (np.ndarray): HxWx3 uint8 RGB.
        instances (list[dict]): in drawing order, each with ``category_id`` (0-based index into
            :data:`SHAPES_CLASS_NAMES`), ``mask`` (HxW bool, the visible pixels, exactly those drawn with the
            object's texture) and ``full_mask`` (HxW bool, the whole object before occlusion).
    """
    height, width = (int(s) for s in image_size)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = _background(rng, xx, yy)
    background = image.copy()
    label = np.zeros((height, width), dtype=np.int32)  # index+1 of the top-most object, 0 = background
    objects = []
    max_side = min(height, width) - 2
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        category = int(rng.integers(0, len(SHAPES_CLASS_NAMES)))
        shape = _sample_shape(rng, category, max_side)
        h, w = shape.shape
        for _attempt in range(20):
            y0 = int(rng.integers(1, height - h)) if height - h > 1 else 0
            x0 = int(rng.integers(1, width - w)) if width - w > 1 else 0
            full = np.zeros((height, width), dtype=bool)
            full[y0 : y0 + h, x0 : x0 + w] = shape
            # earlier objects must stay visible enough under the new one
            remaining = [np.count_nonzero((label == j + 1) & ~full) for j in range(len(objects))]
            if all(_enough_visible(r, obj["area"]) for r, obj in zip(remaining, objects)):
                break
        else:
            continue  # no place found: skip this object
        window = (slice(y0, y0 + h), slice(x0, x0 + w))
        texture = _object_texture(rng, category, xx[window], yy[window], (height, width))
        objects.append({"category_id": category, "full_mask": full, "area": int(full.sum())})
        label[full] = len(objects)
        image[window][shape] = texture[shape]

    instances = []
    for j, obj in enumerate(objects):
        visible = label == j + 1
        if not _enough_visible(int(visible.sum()), obj["area"]):
            image[visible] = background[visible]  # remove the remains of a too occluded object
            continue
        instances.append({"category_id": obj["category_id"], "mask": visible, "full_mask": obj["full_mask"]})

    noise = rng.normal(0.0, rng.uniform(2.0, 6.0) / 255.0, size=image.shape)
    image = np.clip(np.round((image + noise) * 255.0), 0, 255).astype(np.uint8)
    return image, instances


def _enough_visible(visible, full):
    return visible >= MIN_VISIBLE_PIXELS and visible >= MIN_VISIBLE_FRACTION * full
