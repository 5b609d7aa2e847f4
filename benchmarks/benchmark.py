#!/usr/bin/env python
"""Side-by-side benchmark of LevelSet R-CNN and Mask R-CNN (R50-FPN), and of the Chan-Vese module alone.

    python benchmarks/benchmark.py                        # full CPU benchmark, 7 repeats (many minutes)
    python benchmarks/benchmark.py --threads 1 --parts inference   # the headline ratio (on a quiet machine)
    python benchmarks/benchmark.py --device cuda          # on a GPU (GPU memory: max allocated)
    python benchmarks/benchmark.py --quick                # smoke test: tiny images, 1 repeat (CI)
    python benchmarks/benchmark.py --parts chan_vese,tsdf --repeats 3   # fewer repeats: a quick look, no headline

Prints one table (markdown) with times, memory and ratios LevelSet / Mask R-CNN:

1. inference per image at each ``--sizes`` with exactly ``--detections`` detections (score threshold −1, so
   that not even a score that underflows to 0 is dropped, and ``TEST.DETECTIONS_PER_IMAGE``; the script checks
   that both mask branches ran on that many RoIs);
2. one training iteration (forward + backward, no optimizer step) and its peak memory: on the CPU the
   peak RSS of a fresh subprocess per model (``resource.getrusage`` ru_maxrss, total and above the RSS after
   building the model), on a GPU ``torch.cuda.max_memory_allocated``;
3. the Chan-Vese module alone (N = 3, C = 64, 112×112) against the direct reference implementation of
   Eqs. 7–9 kept in ``tests/modeling/chan_vese_reference.py``: time per RoI, time per iteration relative
   to one full read of F (``F.sum()``), and the bytes saved for backward (``saved_tensors_hooks``);
4. TSDF target generation (112×112 and 28×28) per training image;
5. (``modules``) where LevelSet R-CNN's inference time goes at the first ``--sizes`` entry: backbone, RPN,
   box head, initial TSDF head, hyperparameter head, Chan-Vese feature head and refinement.

Protocol: both models are built from ``configs/COCO-InstanceSegmentation/*_R_50_FPN_1x.yaml`` with
``MODEL.WEIGHTS ""`` (no download) and the same random initialisation (every parameter the two share — backbone,
RPN, box head, mask/TSDF head — is copied from Mask R-CNN into LevelSet R-CNN), see the same images, run on the
same device, warm-up runs are excluded, and the repeats of the two models are interleaved (A, B, A, B, …) so
that load from other processes hits both; each number is the median of the repeats (default 7, the fewest for a
headline ratio; ``--repeats`` asks for fewer).

Load: interleaving does not make a loaded machine fair (load slows the shared backbone more than the mask branch),
so the report also names the CPU model (``/proc/cpuinfo``, else ``platform.processor()``), the cores, the
benchmark's threads, and the 1- and 5-minute load average before and after every timed part; when the load of other
processes exceeded 0.5 per free core (free cores = cores − the benchmark's threads, at least 1; the benchmark's own
share of the load is estimated from its CPU time and subtracted: definitions in
``levelset_rcnn/utils/benchmark/load.py``) it prints a WARNING block on stderr and records ``"quiet": false`` under
``"machine"`` in the ``--json`` output, and the inference ratio is marked as no headline number (``"headline"``).

The logic is :mod:`levelset_rcnn.utils.benchmark`; this script passes it the reference implementation kept in the
tests.
"""

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # a source checkout without `pip install -e .`

import levelset_rcnn  # noqa: E402,F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.utils.benchmark.run import argument_parser, run_benchmark  # noqa: E402


def load_reference():
    """The direct Eqs. 7–9 implementation kept in the tests (``tests/modeling/chan_vese_reference.py``)."""
    spec = importlib.util.spec_from_file_location("chan_vese_reference",
                                                  REPO / "tests" / "modeling" / "chan_vese_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_chan_vese


def main(argv=None):
    args = argument_parser(__doc__).parse_args(argv)
    command = "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv or sys.argv[1:]))
    return run_benchmark(args, command, reference=load_reference())


if __name__ == "__main__":
    main()
