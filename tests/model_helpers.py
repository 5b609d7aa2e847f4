"""Helpers shared by the tests that build small models: tiny config overrides and a checked training step."""
import torch
from detectron2.utils.events import EventStorage

# Shrinks any shipped config to a model that steps in well under a second on the CPU (keys exist in all).
SMALL_MODEL_OPTS = [
    "MODEL.FPN.OUT_CHANNELS", "32",
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "200",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    "MODEL.ROI_MASK_HEAD.CONV_DIM", "32",
    "MODEL.LEVELSET.FEATURE_HEAD.NUM_CHANNELS", "8",
    "MODEL.LEVELSET.FEATURE_HEAD.CONV_DIMS", "[32, 16]",
    "MODEL.LEVELSET.HYPERPARAMETER_HEAD.CONV_DIM", "32",
    "MODEL.LEVELSET.HYPERPARAMETER_HEAD.FC_DIM", "32",
]


def checked_train_step(model, batch):
    """One forward + backward in training mode; asserts finite losses and gradients; returns the losses."""
    model.train()
    with EventStorage(0):
        losses = model(batch)
    for name, value in losses.items():
        assert torch.isfinite(value).all(), f"{name} = {value}"
    total = sum(losses.values())
    assert total.requires_grad and total.grad_fn is not None
    model.zero_grad(set_to_none=True)
    total.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
    return losses
