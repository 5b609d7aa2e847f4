"""Cityscapes instance segmentation through cityscapesscripts' official evaluator.

:class:`CityscapesInstanceEvaluator` is detectron2's evaluator of the same name (which writes, per test image,
``<basename>_pred.txt`` listing one binary PNG mask, the Cityscapes label id and the score per instance, and
runs ``cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling`` on them), with its quirks handled:

* it evaluates only the ground-truth images that were processed (detectron2 globs *every*
  ``<gt_dir>/*/*_gtFine_instanceIds.png`` and fails with "Found no prediction" on a subset);
* it checks up front that ``gt_dir`` exists and that every ``thing_classes`` entry is a Cityscapes label name,
  and says which one is not;
* an image whose output has no ``instances`` (or zero instances) still gets its (empty) prediction file;
* cityscapesscripts' console output goes to the log (debug level); per-class AP and AP50 are reported too
  (``AP-person``, ...), NaN classes (no ground truth) are left out;
* cityscapesscripts' ``matches.json`` goes to the temporary folder, not the current one;
* the temporary folder is removed even when the evaluation fails;
* cityscapesscripts runs inside :func:`levelset_core.compat.cityscapes.cityscapesscripts_numpy2_fixes` (it
  fails on the numpy 2.4 of official detectron2 main otherwise).

Results: ``{"segm": {"AP": ..., "AP50": ..., "AP-<class>": ...}}`` in percent, as in detectron2. It needs
no compiled ops (pure Python + numpy). It works in one process (as detectron2's, not multi-machine).
"""
import contextlib
import glob
import io
import logging
import os
from collections import OrderedDict

from detectron2.evaluation import CityscapesInstanceEvaluator as _D2CityscapesInstanceEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from levelset_core.compat.cityscapes import cityscapesscripts_numpy2_fixes

__all__ = ["CityscapesInstanceEvaluator"]

logger = logging.getLogger(__name__)


class CityscapesInstanceEvaluator(_D2CityscapesInstanceEvaluator):
    """Cityscapes instance-level AP / AP50 with cityscapesscripts (see the module docstring).

    Args:
        dataset_name (str): a dataset whose metadata has ``gt_dir`` (``.../gtFine/<split>``) and
            ``thing_classes`` that are Cityscapes label names (e.g. detectron2's ``cityscapes_fine_instance_seg_val``).
    """

    def __init__(self, dataset_name):
        super().__init__(dataset_name)
        self._dataset_name = dataset_name
        from cityscapesscripts.helpers.labels import name2label

        classes = self._metadata.get("thing_classes")
        if not classes:
            raise ValueError(f"Cityscapes evaluation of '{dataset_name}': metadata has no thing_classes")
        unknown = [c for c in classes if c not in name2label]
        if unknown:
            raise ValueError(
                f"Cityscapes evaluation of '{dataset_name}': thing_classes {unknown} are not Cityscapes label names "
                f"(known: {sorted(n for n, l in name2label.items() if l.hasInstances)})"
            )
        gt_dir = self._metadata.get("gt_dir")
        if not gt_dir:
            raise ValueError(f"Cityscapes evaluation of '{dataset_name}': metadata has no gt_dir")
        self._processed = []

    def reset(self):
        super().reset()
        self._processed = []

    def process(self, inputs, outputs):
        fixed = []
        num_classes = len(self._metadata.thing_classes)
        for input, output in zip(inputs, outputs):
            self._processed.append(_frame_key(input["file_name"]))
            instances = output.get("instances")
            if instances is not None and len(instances) and int(instances.pred_classes.max()) >= num_classes:
                raise ValueError(
                    f"Cityscapes evaluation of '{self._dataset_name}': predicted class "
                    f"{int(instances.pred_classes.max())} but the dataset has {num_classes} thing_classes "
                    f"({input['file_name']})"
                )
            fixed.append(output if "instances" in output else {})
        super().process(inputs, fixed)

    def evaluate(self):
        comm.synchronize()
        if comm.get_rank() > 0:
            return None
        import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval

        try:
            gt_dir = PathManager.get_local_path(self._metadata.gt_dir)
            if not os.path.isdir(gt_dir):
                raise FileNotFoundError(
                    f"Cityscapes evaluation of '{self._dataset_name}': gt_dir {gt_dir} does not exist"
                )
            all_gt = sorted(glob.glob(os.path.join(gt_dir, "*", "*_gtFine_instanceIds.png")))
            wanted = set(self._processed)
            gt_list = [g for g in all_gt if _frame_key(g) in wanted]
            if not gt_list:
                raise FileNotFoundError(
                    f"Cityscapes evaluation of '{self._dataset_name}': none of the {len(wanted)} processed images has "
                    f"a ground truth <city>/<city>_<seq>_<frame>_gtFine_instanceIds.png under {gt_dir} "
                    f"({len(all_gt)} found there)"
                )
            args = cs_eval.args
            args.predictionPath = os.path.abspath(self._temp_dir)
            args.predictionWalk = None
            args.JSONOutput = False
            args.colorized = False
            args.quiet = True
            args.gtInstancesFile = os.path.join(self._temp_dir, "gtInstances.json")
            out = io.StringIO()
            cwd = os.getcwd()
            try:
                # cityscapesscripts writes "matches.json" into the current folder: keep it in the temp folder
                os.chdir(self._temp_dir)
                with contextlib.redirect_stdout(out), cityscapesscripts_numpy2_fixes(cs_eval):
                    pred_list = [cs_eval.getPrediction(g, args) for g in gt_list]
                    results = cs_eval.evaluateImgLists(pred_list, gt_list, args)
            finally:
                os.chdir(cwd)
            logger.debug("cityscapesscripts output:\n%s", out.getvalue())
        finally:
            self._working_dir.cleanup()
        averages = results["averages"]
        segm = OrderedDict(AP=100.0 * averages["allAp"], AP50=100.0 * averages["allAp50%"])
        for name, scores in averages.get("classes", {}).items():
            ap = scores.get("ap")
            if ap is not None and ap == ap:  # not NaN
                segm[f"AP-{name}"] = 100.0 * ap
        return OrderedDict(segm=segm)


def _frame_key(path):
    """``<city>_<seq>_<frame>`` of a Cityscapes file name (leftImg8bit image or gtFine file)."""
    parts = os.path.basename(path).split("_")
    if len(parts) < 3:
        raise ValueError(f"not a Cityscapes file name (<city>_<seq>_<frame>_...): {path}")
    return "_".join(parts[:3])
