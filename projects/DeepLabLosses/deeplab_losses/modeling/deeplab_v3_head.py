"""DeepLabV3 head with the extra losses (a subclass of detectron2's ``DeepLabV3Head``)."""
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from detectron2.projects.deeplab import DeepLabV3Head

from .aux_losses import AuxLossesHeadMixin, build_aux_losses

__all__ = ["DeepLabV3LossesHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class DeepLabV3LossesHead(AuxLossesHeadMixin, DeepLabV3Head):
    """:class:`DeepLabV3Head` whose training loss is CE + the losses of ``MODEL.DEEPLAB_LOSSES.EXTRA``.

    Training returns ``{"loss_sem_seg", "loss_level_set"?, "loss_semeda"?, "loss_sobel"?}``; inference is
    the parent's (``(N, C, H, W)`` logits). ``MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING`` makes ASPP's image
    pooling global (any test size) even when training crops are on.
    """

    def __init__(self, cfg, input_shape):
        if cfg.MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING and cfg.INPUT.CROP.ENABLED:
            cfg = cfg.clone()  # the parent sizes ASPP's pooling from the crop unless cropping is off
            cfg.defrost()
            cfg.INPUT.CROP.ENABLED = False
        super().__init__(cfg, input_shape)
        self.aux_losses = build_aux_losses(cfg)
        self._use_class_weights(cfg.MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)
