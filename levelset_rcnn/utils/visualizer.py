"""Drawing LevelSet R-CNN predictions with detectron2's :class:`~detectron2.utils.visualizer.Visualizer`."""
import os

import numpy as np
import torch
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.detection_utils import convert_image_to_rgb, read_image
from detectron2.layers import paste_masks_in_image
from detectron2.structures import Instances
from detectron2.utils.visualizer import ColorMode, Visualizer

__all__ = ["draw_instance_predictions", "draw_ground_truth", "save_prediction_images"]


def _masks_in_image(instances):
    """Make ``pred_masks`` image-sized: masks still in the RoI frame (N x 1 x M x M) are pasted."""
    if not instances.has("pred_masks") or len(instances) == 0:
        return instances
    masks = instances.pred_masks
    height, width = (int(s) for s in instances.image_size)
    if masks.dim() == 3 and tuple(masks.shape[-2:]) == (height, width):
        return instances
    if masks.dim() == 4:
        masks = masks[:, 0]
    instances = Instances(instances.image_size, **instances.get_fields())  # shallow copy
    instances.pred_masks = paste_masks_in_image(
        masks.float(), instances.pred_boxes.tensor, (height, width)
    )
    return instances


def draw_instance_predictions(
    image_rgb, instances, metadata=None, confidence_threshold=0.5, *, scale=1.0,
    instance_mode=ColorMode.IMAGE,
):
    """Draw the predictions whose score is at least ``confidence_threshold`` on an RGB image.

    Args:
        image_rgb (ndarray): H x W x 3 RGB image, 0-255.
        instances (Instances): predictions in the image's frame (``pred_boxes``, ``scores``,
            ``pred_classes``, optionally ``pred_masks``).
        metadata (Metadata or None): dataset metadata (class names, colors).
        confidence_threshold (float): detections with a lower score are not drawn.

    Returns:
        ndarray: the drawn RGB image (uint8, H*scale x W*scale x 3).
    """
    instances = instances.to(torch.device("cpu"))
    if instances.has("scores"):
        instances = instances[instances.scores >= confidence_threshold]
    instances = _masks_in_image(instances)
    visualizer = Visualizer(image_rgb, metadata, scale=scale, instance_mode=instance_mode)
    return visualizer.draw_instance_predictions(instances).get_image()


def draw_ground_truth(image_rgb, dataset_dict, metadata=None, *, scale=1.0):
    """Draw the annotations of a detectron2 dataset dict on an RGB image; returns an RGB ndarray."""
    visualizer = Visualizer(image_rgb, metadata, scale=scale)
    return visualizer.draw_dataset_dict(dataset_dict).get_image()


def save_prediction_images(
    model,
    dataset_name,
    output_dir,
    num_images=4,
    confidence_threshold=0.5,
    *,
    input_format="BGR",
    min_size_test=None,
    max_size_test=None,
    scale=1.0,
):
    """Run ``model`` on the first images of a dataset; save ground truth | prediction side by side.

    Args:
        model (nn.Module): a detectron2 model taking a list of ``{"image", "height", "width"}`` dicts and
            returning ``[{"instances": Instances}]`` in the original image's frame.
        dataset_name (str): a dataset registered in ``DatasetCatalog``.
        output_dir (str): folder for the PNGs (created if needed).
        num_images (int or None): how many images (the first ones of the dataset); None for all.
        confidence_threshold (float): predictions with a lower score are not drawn.
        input_format (str): format of the model's input image (``cfg.INPUT.FORMAT``).
        min_size_test, max_size_test (int or None): test-time ``ResizeShortestEdge``
            (``cfg.INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``); None means no resize.
        scale (float): drawing scale (e.g. 3 for small images, so labels stay readable).

    Returns:
        list[str]: the written PNG paths, one per image.
    """
    dataset_dicts = DatasetCatalog.get(dataset_name)
    if num_images is not None:
        dataset_dicts = dataset_dicts[:num_images]
    metadata = MetadataCatalog.get(dataset_name)
    resize = None
    if min_size_test:
        resize = T.ResizeShortestEdge(
            [min_size_test, min_size_test], max_size_test if max_size_test else float("inf")
        )
    os.makedirs(output_dir, exist_ok=True)

    paths = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for index, dataset_dict in enumerate(dataset_dicts):
                image = read_image(dataset_dict["file_name"], format=input_format)
                height, width = image.shape[:2]
                model_image = resize.get_transform(image).apply_image(image) if resize else image
                model_input = {
                    "image": torch.as_tensor(
                        np.ascontiguousarray(model_image.transpose(2, 0, 1)).astype("float32")
                    ),
                    "height": height,
                    "width": width,
                }
                for key in ("file_name", "image_id"):
                    if key in dataset_dict:
                        model_input[key] = dataset_dict[key]
                instances = model([model_input])[0]["instances"]

                image_rgb = np.asarray(convert_image_to_rgb(image, input_format)).clip(0, 255)
                image_rgb = image_rgb.astype(np.uint8)
                ground_truth = draw_ground_truth(image_rgb, dataset_dict, metadata, scale=scale)
                prediction = draw_instance_predictions(
                    image_rgb, instances, metadata, confidence_threshold, scale=scale
                )
                canvas = np.concatenate([ground_truth, prediction], axis=1)

                stem = os.path.splitext(os.path.basename(dataset_dict["file_name"]))[0]
                path = os.path.join(output_dir, f"{index:03d}_{stem}.png")
                Image.fromarray(canvas).save(path)
                paths.append(path)
    finally:
        model.train(was_training)
    return paths
