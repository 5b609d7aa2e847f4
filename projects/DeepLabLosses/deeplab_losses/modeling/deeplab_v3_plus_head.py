"""DeepLabV3+ head with the extra losses (a subclass of detectron2's ``DeepLabV3PlusHead``)."""
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from detectron2.projects.deeplab import DeepLabV3PlusHead

from .aux_losses import AuxLossesHeadMixin, DeepLabAuxLosses, build_aux_losses

__all__ = ["DeepLabV3PlusLossesHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class DeepLabV3PlusLossesHead(AuxLossesHeadMixin, DeepLabV3PlusHead):
    """:class:`DeepLabV3PlusHead` whose training loss is CE + the losses of ``MODEL.DEEPLAB_LOSSES.EXTRA``.

    Args (besides the parent's): aux_losses (:class:`DeepLabAuxLosses`), none by default; class_weights
    (one float per class for the cross-entropy, ``MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS``), none by default.
    ``MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING`` makes ASPP's image pooling global (any test size, e.g. VOC)
    even when training crops are on (the parent sizes the pooling window from the crop).
    """

    @configurable
    def __init__(self, input_shape, *, aux_losses=None, class_weights=(), **kwargs):
        super().__init__(input_shape, **kwargs)
        self.aux_losses = aux_losses if aux_losses is not None else DeepLabAuxLosses()
        if not self.decoder_only:
            self._use_class_weights(class_weights, kwargs["num_classes"])

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["aux_losses"] = build_aux_losses(cfg)
        ret["class_weights"] = list(cfg.MODEL.DEEPLAB_LOSSES.CLASS_WEIGHTS)
        if cfg.MODEL.SEM_SEG_HEAD.ASPP_GLOBAL_POOLING:
            ret["train_size"] = None  # global image pooling in ASPP: test images of any size
        return ret
