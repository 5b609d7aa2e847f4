"""The benchmark's report: one Markdown table per part, with the ratios LevelSet / Mask R-CNN and their targets
(the format docs/BENCHMARKS.md quotes)."""
import datetime

import torch

from .models import COMMON_PARTS, MODULE_PARTS

__all__ = ["GOALS", "fmt_table", "fmt_load"]

#: the project's goals for LevelSet R-CNN / Mask R-CNN, printed in the tables' "target" column: inference ≤ 1.05
#: (issue 29, quiet machine), a training iteration ≤ 1.10 and peak memory ≤ 1.30 (issue 26)
GOALS = {"inference": 1.05, "training": 1.10, "memory": 1.30}


def _num(value):
    return "?" if value is None else f"{value:.2f}"


def fmt_load(machine):
    """The machine and load lines of the report (``machine``: :func:`~.load.machine_record`'s)."""
    verdict = {True: "quiet", False: "**NOT QUIET** (see the WARNING on stderr)", None: "unknown (no load average)"}
    lines = [f"machine: {machine['cpu_model']}; {machine['cores']} cores; {machine['threads']} benchmark thread(s), "
             f"{machine['free_cores']} free core(s); quiet = other 1-min load <= {machine['quiet_limit_load1']:.2f} "
             f"at every sample: {verdict[machine['quiet']]}"]
    if machine["load"]:
        lines += ["", "| load average, 1 min / 5 min (other = 1-min minus the benchmark's own share) | before | after "
                  "| other, before / after | quiet |", "|---|---|---|---|---|"]
        pairs = {}
        for s in machine["load"]:
            pairs.setdefault(s["part"], {})[s["when"]] = s
        for part, p in pairs.items():
            b, a = p.get("before", {}), p.get("after", {})
            quiet = [x.get("quiet") for x in (b, a)]
            lines.append(f"| {part} | {_num(b.get('load1'))} / {_num(b.get('load5'))} | {_num(a.get('load1'))} / "
                         f"{_num(a.get('load5'))} | {_num(b.get('other_load1'))} / {_num(a.get('other_load1'))} | "
                         f"{'no' if False in quiet else 'yes' if all(quiet) else '?'} |")
    return lines


def fmt_table(results, args):
    """The Markdown report of :func:`levelset_rcnn.utils.benchmark.run.run_benchmark`'s ``results`` (``args``: its
    options: repeats, warm-up, detections)."""
    lines = []
    add = lines.append
    add(f"# LevelSet R-CNN vs Mask R-CNN benchmark ({datetime.date.today().isoformat()})")
    add("")
    add(f"device: {results['device']}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"repeats {args.repeats} (median), warm-up {args.warmup}; interleaved")
    add(f"command: {results['command']}")
    if results.get("shared_parameters"):
        add(f"same init: {results['shared_parameters']}")
    if results.get("machine"):
        lines.extend(fmt_load(results["machine"]))
    add("")
    if "inference" in results:
        add("| inference per image | Mask R-CNN | LevelSet R-CNN | ratio | target |")
        add("|---|---|---|---|---|")
        for r in results["inference"]:
            add(f"| {r['size']}, mask branch on {r['detections']} RoIs ({r['pasted']} non-empty pasted) | "
                f"{r['maskrcnn_s'] * 1e3:.0f} ms | "
                f"{r['levelset_s'] * 1e3:.0f} ms | **{r['ratio']:.3f}** | ≤ {GOALS['inference']} |")
        h = results.get("headline")
        if h:
            add("")
            add("headline ratio: yes (quiet machine, median of interleaved repeats)" if h["ok"] else
                f"headline ratio: NO ({'; '.join(h['reasons'])}): not a number to quote")
        add("")
    if "training" in results:
        r = results["training"]
        add("| training iteration (fwd + bwd) | Mask R-CNN | LevelSet R-CNN | ratio | target |")
        add("|---|---|---|---|---|")
        add(f"| {r['size']}, 1 image, {r['positive_rois']} positive RoIs | {r['maskrcnn_s'] * 1e3:.0f} ms | "
            f"{r['levelset_s'] * 1e3:.0f} ms | **{r['ratio']:.3f}** | ≤ {GOALS['training']} |")
        if "memory" in results:
            m = results["memory"]
            kind = "max allocated" if results["device"].startswith("cuda") else "peak RSS"
            add(f"| peak memory ({kind}, fresh process) | {m['maskrcnn']['peak_mib']:.0f} MiB | "
                f"{m['levelset']['peak_mib']:.0f} MiB | **{m['ratio_peak']:.3f}** | ≤ {GOALS['memory']} |")
            add(f"| peak memory above the built model | {m['maskrcnn']['above_model_mib']:.0f} MiB | "
                f"{m['levelset']['above_model_mib']:.0f} MiB | {m['ratio_above_model']:.3f} | |")
        add("")
    if "chan_vese" in results:
        c = results["chan_vese"]
        mem = c["memory"]
        add(f"| Chan-Vese module, N = {c['iterations']}, C = {c['channels']}, {c['side']}×{c['side']}, "
            f"{c['rois']} RoIs | reference (Eqs. 7–9 direct) | fast path | reference / fast |")
        add("|---|---|---|---|")
        add(f"| forward per RoI | {c['reference_fwd_ms_per_roi']:.2f} ms | {c['fast_fwd_ms_per_roi']:.2f} ms | "
            f"{c['speedup_fwd']:.2f}× |")
        add(f"| forward + backward per RoI | {c['reference_fwdbwd_ms_per_roi']:.2f} ms | "
            f"{c['fast_fwdbwd_ms_per_roi']:.2f} ms | {c['speedup_fwdbwd']:.2f}× |")
        add(f"| saved for backward per RoI (incl. F = {c['F_mib_per_roi']:.2f} MiB) | "
            f"{mem['reference']['saved_mib_per_roi']:.2f} MiB | {mem['fast']['saved_mib_per_roi']:.2f} MiB | "
            f"{mem['reference']['saved_mib_per_roi'] / mem['fast']['saved_mib_per_roi']:.1f}× |")
        add(f"| saved for backward per RoI, without F | {mem['reference']['saved_mib_per_roi_without_F']:.2f} MiB | "
            f"{mem['fast']['saved_mib_per_roi_without_F']:.2f} MiB | "
            f"{mem['reference']['saved_mib_per_roi_without_F'] / mem['fast']['saved_mib_per_roi_without_F']:.1f}× |")
        add(f"| one read of F (`F.sum()`) per RoI | {c['read_F_ms_per_roi']:.3f} ms | | |")
        add(f"| fast: one iteration / one read of F (target ≤ ~3) | forward **{c['fast_fwd_iter_over_read_F']:.2f}** | "
            f"fwd + bwd {c['fast_fwdbwd_iter_over_read_F']:.2f} | |")
        add("")
    if "modules" in results:
        m = results["modules"]
        names = [n for n in ("maskrcnn", "levelset") if n in m["models"]]
        titles = {"maskrcnn": "Mask R-CNN", "levelset": "LevelSet R-CNN"}
        add(f"| inference at {m['size']}: {m['box_head_rois']} proposals, {args.detections} RoIs in the mask branch "
            f"(seconds, interleaved) | " + " | ".join(titles[n] for n in names)
            + (" | LevelSet − Mask R-CNN |" if len(names) == 2 else " |"))
        add("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
        models = m["models"]

        def row(label, values):
            diff = f" | {values[1] - values[0]:+.3f}" if len(values) == 2 else ""
            return f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + diff + " |"

        for label, _ in COMMON_PARTS:
            add(row(label, [models[n]["parts_s"].get(label, 0.0) for n in names]))
            if label == "mask branch":
                for own, _ in MODULE_PARTS:
                    if own in models.get("levelset", {}).get("parts_s", {}):
                        cells = ("–" if n != "levelset" else f"{models[n]['parts_s'][own]:.3f}" for n in names)
                        end = " | |" if len(names) == 2 else " |"
                        add(f"| &nbsp;&nbsp;of which {own} | " + " | ".join(cells) + end)
        rests = [models[n]["total_s"] - sum(models[n]["parts_s"].get(label, 0.0) for label, _ in COMMON_PARTS)
                 for n in names]
        add(row("rest (box predictor, NMS, post-processing, pasting; Mask R-CNN's mask RoI pooling)", rests))
        add(row("total", [models[n]["total_s"] for n in names]))
        add("")
    if "tsdf" in results:
        t = results["tsdf"]
        add("| targets per training image | Mask R-CNN (28×28 crops) | LevelSet R-CNN (TSDF 112 + 28) | "
            "share of the LevelSet training iteration |")
        add("|---|---|---|---|")
        share = ""
        if "training" in results:
            share = f"{t['tsdf_ms'] / (results['training']['levelset_s'] * 1e3) * 100:.1f} %"
        add(f"| {t['positive_rois']} positive RoIs | {t['maskrcnn_crops_ms']:.1f} ms | {t['tsdf_ms']:.1f} ms | {share} |")
        add("")
    return "\n".join(lines)
