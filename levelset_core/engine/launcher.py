"""Multi-process training on GPUs (NCCL) or CPUs (gloo) with detectron2's process-group conventions.

detectron2's ``detectron2.engine.launch`` cannot be asked for CPU worker processes everywhere (v0.6 asserts CUDA in
every worker and hard-codes NCCL). :func:`launch` keeps detectron2's signature and behaviour where it works (CUDA +
NCCL: it *is* detectron2's launch) and otherwise starts the workers itself with the gloo backend, setting up
``detectron2.utils.comm``'s local process group as detectron2 does
(:func:`levelset_core.compat.engine.create_local_process_group`), so that the Trainer, its data loader sharding,
DistributedDataParallel and ``comm.synchronize()`` work unchanged.
"""
import datetime
import logging
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.utils import comm

from ..compat.engine import create_local_process_group

__all__ = ["launch", "resolve_backend", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
BACKENDS = ("auto", "nccl", "gloo")


def resolve_backend(backend="auto"):
    """``auto`` → ``nccl`` when CUDA is available, else ``gloo``; checks the choice is usable."""
    backend = (backend or "auto").lower()
    if backend not in BACKENDS:
        raise ValueError(f"--dist-backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("--dist-backend nccl needs CUDA, but torch.cuda.is_available() is False; use gloo")
    return backend


def _find_free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def launch(main_func, num_processes_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=(),
           timeout=DEFAULT_TIMEOUT, backend="auto"):
    """Run ``main_func(*args)`` in ``num_processes_per_machine × num_machines`` processes.

    Same arguments as ``detectron2.engine.launch`` (``num_processes_per_machine`` is its ``num_gpus_per_machine``;
    on the CPU it is the number of worker processes), plus ``backend``: ``"auto"`` (NCCL with CUDA, gloo
    without), ``"nccl"`` or ``"gloo"``. One process in total runs ``main_func`` directly.
    """
    backend = resolve_backend(backend)
    world_size = num_machines * num_processes_per_machine
    if world_size <= 1:
        return main_func(*args)
    if backend == "nccl":
        from detectron2.engine import launch as d2_launch

        return d2_launch(main_func, num_processes_per_machine, num_machines=num_machines,
                         machine_rank=machine_rank, dist_url=dist_url, args=args, timeout=timeout)
    if dist_url in (None, "auto"):
        if num_machines != 1:
            raise ValueError("dist_url=auto is only supported on one machine; pass --dist-url tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _gloo_worker,
        nprocs=num_processes_per_machine,
        args=(main_func, world_size, num_processes_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
    )
    return None


def _gloo_worker(local_rank, main_func, world_size, num_per_machine, machine_rank, dist_url, args, timeout):
    global_rank = machine_rank * num_per_machine + local_rank
    try:
        dist.init_process_group(backend="gloo", init_method=dist_url, world_size=world_size, rank=global_rank,
                                timeout=timeout)
    except Exception:
        logging.getLogger(__name__).error("process group URL: %s", dist_url)
        raise
    create_local_process_group(num_per_machine)  # the ranks on this machine, as in detectron2.engine.launch
    if torch.cuda.is_available() and num_per_machine <= torch.cuda.device_count():
        torch.cuda.set_device(local_rank)
    else:
        # CPU workers share the machine's cores: split them instead of oversubscribing.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_per_machine))
    comm.synchronize()
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()
