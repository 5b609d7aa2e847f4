"""``LevelSetRCNN``: detectron2's ``GeneralizedRCNN`` that also hands the images to the ROI heads on given boxes.

detectron2's ``GeneralizedRCNN.inference(inputs, detected_instances)`` calls ``roi_heads.forward_with_given_boxes(
features, instances)`` with the backbone features only. The default Chan-Vese feature head
(``FineGrainedChanVeseFeatureHead`` with ``USE_IMAGE``) RoIAligns the normalised image itself (the intensities of
Eq. 1), so this meta-architecture adds it as ``features["image"]`` when the ROI heads' mask branch reads it
(``roi_heads.needs_images``), as :class:`LevelSetROIHeads` does in its own ``forward``.
Everything else (parameters, checkpoints, training, inference on proposals) is ``GeneralizedRCNN``'s.
"""
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN

__all__ = ["LevelSetRCNN"]


@META_ARCH_REGISTRY.register()
class LevelSetRCNN(GeneralizedRCNN):
    """``MODEL.META_ARCHITECTURE "LevelSetRCNN"`` (set by ``configs/Base-LevelSet-RCNN-FPN.yaml``)."""

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True):
        if detected_instances is None or not getattr(self.roi_heads, "needs_images", False):
            return super().inference(batched_inputs, detected_instances, do_postprocess)
        assert not self.training
        images = self.preprocess_image(batched_inputs)
        features = dict(self.backbone(images.tensor), image=images.tensor)
        instances = [x.to(self.device) for x in detected_instances]
        results = self.roi_heads.forward_with_given_boxes(features, instances)
        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)
        return results
