"""The normalised image as a backbone output: ``features["image"]`` (stride 1), next to the FPN levels.

The default Chan-Vese feature head (:class:`~levelset_rcnn.modeling.feature_head.FineGrainedChanVeseFeatureHead`
with ``USE_IMAGE``) RoIAligns the normalised input image, the intensities of Eq. 1. detectron2's ROI heads see only
the backbone's feature dict, so the image reaches them the way every other input does: the backbone returns it
(docs/DESIGN.md, "One image through the model"). With it a LevelSet R-CNN is detectron2's stock
``GeneralizedRCNN``: training, inference, ``inference(inputs, detected_instances)``, detectron2's TTA, export
(tracing) and the demo run through detectron2's own code, and the ROI heads select what they read by name
(``MODEL.RPN.IN_FEATURES`` and ``MODEL.ROI_HEADS.IN_FEATURES`` never list ``"image"``; the LevelSet mask head adds
it to its ``mask_in_features`` when its feature head reads it).

Config (``configs/Base-LevelSet-RCNN-FPN.yaml``)::

    MODEL.META_ARCHITECTURE "GeneralizedRCNN"
    MODEL.BACKBONE.NAME "build_image_feature_backbone"
    MODEL.BACKBONE.WRAPPED_NAME "build_resnet_fpn_backbone"   # any registered backbone builder

The backbone built by ``WRAPPED_NAME`` is returned as an instance of a subclass of its own class that adds the
``"image"`` output (:func:`with_image_feature`): nothing is wrapped around it, so its parameters, state-dict keys,
initialisation (random-number use) and computation are the wrapped backbone's, and checkpoints load unchanged.
"""
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

__all__ = ["IMAGE_FEATURE", "IMAGE_FEATURE_BACKBONE", "ImageFeatureBackbone", "build_image_feature_backbone",
           "with_image_feature", "upgrade_meta_architecture"]

#: the name of the normalised image in the backbone's feature dict
IMAGE_FEATURE = "image"
#: ``MODEL.BACKBONE.NAME`` of the backbone that also returns the image
IMAGE_FEATURE_BACKBONE = "build_image_feature_backbone"


class ImageFeatureBackbone(Backbone):
    """Mixin base of the image-feature backbones made by :func:`with_image_feature` (``isinstance`` tells a
    backbone that returns ``features["image"]``); not built on its own."""

    #: channels of the input image (``len(MODEL.PIXEL_MEAN)``), set by :func:`with_image_feature`
    image_channels = 3

    def forward(self, x):
        """The wrapped backbone's outputs plus ``"image"``: ``x`` itself, the normalised, padded batch
        ``(B, C, H, W)`` (the same tensor, not a copy)."""
        features = super().forward(x)
        features[IMAGE_FEATURE] = x
        return features

    def output_shape(self):
        shapes = dict(super().output_shape())
        shapes[IMAGE_FEATURE] = ShapeSpec(channels=self.image_channels, stride=1)
        return shapes


_CLASSES = {}


def _image_feature_class(cls):
    if issubclass(cls, ImageFeatureBackbone):
        return cls
    if cls not in _CLASSES:
        name = f"{cls.__name__}WithImage"
        new = type(cls)(name, (ImageFeatureBackbone, cls), {"__module__": __name__, "__qualname__": name,
                                                       "__doc__": f"{cls.__name__} that also returns the image."})
        globals()[name] = new  # importable by name (pickle, copy)
        _CLASSES[cls] = new
    return _CLASSES[cls]


def with_image_feature(backbone, image_channels=3):
    """``backbone`` (a detectron2 ``Backbone``, changed in place and returned) that also returns the normalised
    image as ``features["image"]`` with ``output_shape()["image"] = ShapeSpec(channels=image_channels, stride=1)``.

    Its class becomes a subclass of its own (``FPN`` → ``FPNWithImage``, still an ``FPN``): same modules, parameters
    and state-dict keys, same forward for every other output."""
    if not isinstance(backbone, Backbone):
        raise TypeError(f"with_image_feature needs a detectron2 Backbone, got {type(backbone).__name__}")
    backbone.__class__ = _image_feature_class(type(backbone))
    backbone.image_channels = int(image_channels)
    return backbone


@BACKBONE_REGISTRY.register()
def build_image_feature_backbone(cfg, input_shape: ShapeSpec):
    """``MODEL.BACKBONE.NAME "build_image_feature_backbone"``: the backbone ``MODEL.BACKBONE.WRAPPED_NAME`` builds,
    with the image as an extra output (:func:`with_image_feature`)."""
    name = cfg.MODEL.BACKBONE.WRAPPED_NAME
    if name == IMAGE_FEATURE_BACKBONE or name not in BACKBONE_REGISTRY:
        raise ValueError(f"MODEL.BACKBONE.WRAPPED_NAME = {name!r}: expected the registered backbone builder that "
                         f"{IMAGE_FEATURE_BACKBONE} wraps, e.g. 'build_resnet_fpn_backbone'")
    return with_image_feature(BACKBONE_REGISTRY.get(name)(cfg, input_shape), image_channels=input_shape.channels)


def upgrade_meta_architecture(cfg):
    """A copy of ``cfg`` written for ``MODEL.META_ARCHITECTURE "LevelSetRCNN"`` (issues 14–23) as today's config:
    ``GeneralizedRCNN`` with the image-feature backbone wrapping the configured one."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    if cfg.MODEL.BACKBONE.NAME != IMAGE_FEATURE_BACKBONE:
        cfg.MODEL.BACKBONE.WRAPPED_NAME = cfg.MODEL.BACKBONE.NAME
        cfg.MODEL.BACKBONE.NAME = IMAGE_FEATURE_BACKBONE
    return cfg
