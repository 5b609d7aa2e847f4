"""detectron2 trainer and process-group internals that differ between v0.6 and main, or that detectron2 gets wrong
for CPU processes.

* :func:`set_data_loader_iter`: a step trainer's data iterator is an attribute in v0.6 and a lazily created
  property (backed by ``_data_loader_iter_obj``) in main;
* :func:`create_local_process_group`: detectron2 main has ``comm.create_local_process_group``; v0.6 has only the
  ``comm._LOCAL_PROCESS_GROUP`` global that its ``launch`` fills;
* :func:`create_ddp_model`: detectron2's (both versions) always passes ``device_ids = [local rank]``, which
  DistributedDataParallel rejects for a CPU model.

(``detectron2.engine.launch`` cannot start gloo CPU workers on every version — v0.6 asserts CUDA in every worker
and hard-codes NCCL — so :func:`levelset_core.engine.launch` starts them itself on both, with
:func:`create_local_process_group`.)
"""
from detectron2.utils import comm

__all__ = ["set_data_loader_iter", "create_local_process_group", "create_ddp_model"]


def set_data_loader_iter(step_trainer, iterator):
    """Make ``step_trainer`` (a detectron2 ``SimpleTrainer``) draw its batches from ``iterator``."""
    if isinstance(getattr(type(step_trainer), "_data_loader_iter", None), property):
        step_trainer._data_loader_iter_obj = iterator  # detectron2 main: a lazily created iterator
    else:
        step_trainer._data_loader_iter = iterator  # detectron2 v0.6: an attribute


def create_local_process_group(num_per_machine):
    """detectron2's local process group (the ranks on this machine), as detectron2's ``launch`` creates it; call
    in every process after ``torch.distributed.init_process_group``."""
    if hasattr(comm, "create_local_process_group"):  # detectron2 main
        comm.create_local_process_group(num_per_machine)
        return
    import torch.distributed as dist

    assert comm._LOCAL_PROCESS_GROUP is None
    world_size, machine_rank = dist.get_world_size(), dist.get_rank() // num_per_machine
    for i in range(world_size // num_per_machine):
        group = dist.new_group(list(range(i * num_per_machine, (i + 1) * num_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group


def create_ddp_model(model, **kwargs):
    """Wrap in DistributedDataParallel when there are several processes: ``device_ids`` = the local rank
    on a GPU, none for a CPU model (detectron2's ``create_ddp_model`` always passes ``device_ids``, which DDP
    rejects for CPU modules)."""
    if comm.get_world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if "device_ids" not in kwargs and next(model.parameters()).device.type == "cuda":
        kwargs["device_ids"] = [comm.get_local_rank()]
    return DistributedDataParallel(model, **kwargs)
