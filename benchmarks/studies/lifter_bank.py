"""One refiner for a bank of lifters: the leave-one-lifter-out validation that chooses the
configuration, and the goals table on SS3.

    # validation (held-out SS1/SS2 motions): one --run per trained candidate, the lifter it never saw first
    python benchmarks/studies/lifter_bank.py lolo --data ../shared/blendmimic3d \
        --run outputs/semgcn/backbone long_range outputs/lolo/semgcn_long_range/best ...
    # SS3 (never used for a choice): the chosen refiner on every bank lifter, beside the goals
    python benchmarks/studies/lifter_bank.py goals --data ../shared/blendmimic3d --refiner gcnrefine-blendmimic3d \
        --bank temporal outputs/bank/temporal --bank single outputs/bank/single --bank SemGCN outputs/semgcn/backbone

``lolo`` refines every held-out-motion sequence of each lifter folder (whole sequences, no flip test, the
detection confidence when the model takes it) and prints MPJPE, occluded-joint MPJPE and acceleration
error per detection preset: for the lifter a run never saw (its ``data.json`` names the lifters it
trained on), and for the lifters it trained on (same held-out motions: the in-lifter figure).

``lolo --val-subjects SS2`` scores candidates on a held-out subject instead (every lifter, the choice rule
printed); ``--smoothing-sigmas S ...`` scores each run once per ``refine(smoothing_sigma=S)`` as its own
candidate; ``--variants '{"change_weight": 0.5, "full_change_min": 0.06}' ...`` likewise for any of
refine()'s last steps (`POST_FIELDS`); ``--in-lifter`` accepts a run trained on the named lifter (its
held-out motions: a lifter's own refiner, e.g. ``gcnrefine-semgcn-h36m``).

``goals`` reads each bank folder's SS3 prediction files (``gcnrefine backbone``), refines them with
one refiner and prints the table of issue 14's goals beside the measured values, then speed (the
paper-size T = 3 model in the same process) and peak memory for an hour of 50 fps video
(``benchmarks/speed/bench_refine.py``'s sampler), and the ground-truth-free figures on the real
in-the-wild VideoPose3D example when ``--example`` exists.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "speed")]
from bench_refine import peak_memory_mib, sequence  # noqa: E402
from real_parts import TEST_SEED, cut, measure, refine_all  # noqa: E402

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel  # noqa: E402
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d  # noqa: E402
from modeling_gcnrefine.data.predictions import load_predictions  # noqa: E402
from modeling_gcnrefine.data.real_detections import REAL  # noqa: E402
from modeling_gcnrefine.data.sequences import camera_sequences  # noqa: E402
from modeling_gcnrefine.evaluation.plausibility import bone_length_spread, jitter  # noqa: E402
from modeling_gcnrefine.processing_gcnrefine import (  # noqa: E402
    UnitsError,
    constant_bone_lengths,
    smooth_over_time,
    weigh_changes,
)
from modeling_gcnrefine.recipes.backbone import aligned_predictions, prediction_path  # noqa: E402
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings, load_refiner_sequences  # noqa: E402
from modeling_gcnrefine.utils.hub import resolve_model  # noqa: E402
from modeling_gcnrefine.utils.metrics import acceleration_error  # noqa: E402

PRESETS = ("occluded", "realistic", "visible_only")
SS3_ROWS = ("realistic", "real", "occluded", "visible_only")
SINGLE_FRAME, TEMPORAL = "single-frame", "temporal"
HOUR_FRAMES = 50 * 3600
DEFAULT_EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "examples" / "in_the_wild_videopose3d_predictions.npy"


def _f(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- leave-one-lifter-out validation -------------------------------------------------------------


def held_out_motions(
    folder: Path, data, cache: dict, val_subjects: tuple[str, ...] = (), presets: tuple[str, ...] = PRESETS,
    virtual_views: int | None = None,
) -> dict[str, list]:
    """``{row label: [(input, target, visibility, confidence)]}`` of a lifter folder's held-out motions
    (seed 0, the real cameras and the first ``virtual_views`` views of the first virtual-view seed, all when
    None; real detections where the folder has them): the default held-out motions, or every motion of
    ``val_subjects``."""
    key = (folder, val_subjects, presets, virtual_views)
    if key not in cache:
        # Real detections are scored where the folder has them (the filmed SS1/SS2 cameras only).
        real = (REAL,) if REAL not in presets and prediction_path(folder, "train", REAL, 0).exists() else ()
        settings = RefinerDataSettings(presets=presets + real, seeds=(0,), virtual_seeds=(0,), val_subjects=val_subjects)
        _, val = load_refiner_sequences(folder, data, settings)
        rows: dict[str, list] = {}
        for x, y, v, c, k in zip(val.inputs, val.targets, val.visibility, val.confidence, val.keys):
            if virtual_views is not None and k[3].startswith("virtual/") and k[2] >= virtual_views:
                continue
            rows.setdefault(k[3], []).append((x, y, v, c))
        cache[key] = rows
    return cache[key]


def _never_trained_on(run: str, meta: dict | None, subjects: tuple[str, ...], data) -> None:
    """Refuse a candidate that may have trained on a motion of ``subjects``: its data.json's held-out
    motions must hold every one of theirs (a shipped checkpoint has no data.json and is refused)."""
    if run == BONES_ONLY:
        return
    if meta is None:
        raise ValueError(f"--run: {run} has no data.json; with --val-subjects expected a run trained without {list(subjects)}")
    motions = {s.motion for s in camera_sequences(load_blendmimic3d(data)["train"]) if s.subject in subjects}
    if not motions:
        raise ValueError(f"--val-subjects: expected subjects of the train split, got {list(subjects)}")
    seen = motions - {tuple(m) for m in meta.get("val_motions", [])}
    if seen:
        raise ValueError(f"--run: {run} trained on {sorted(seen)[:3]}...; expected a run that held out {list(subjects)}")


def sequence_errors(pairs) -> dict[str, float]:
    """Root-relative MPJPE and occluded-joint MPJPE (mm, all frames pooled) and acceleration error
    (mm/frame², mean over sequences) of ``[(prediction, target, visibility)]``."""
    pairs = [(p - p[:, :1], y - y[:, :1], v) for p, y, v in pairs]
    errors = [(1000 * np.linalg.norm(p - y, axis=-1), v) for p, y, v in pairs]
    occluded = np.concatenate([e[~v] for e, v in errors])
    return {
        "mpjpe": float(np.concatenate([e.ravel() for e, _ in errors]).mean()),
        "mpjpe_occluded": float(occluded.mean()) if occluded.size else None,
        "acceleration_error": 1000 * float(np.mean([acceleration_error(p, y) for p, y, _ in pairs])),
    }


POST_FIELDS = ("change_weight", "full_change_min", "smoothing_sigma")  # refine()'s last steps, in order


def validate(model: GCNRefineModel, rows: dict[str, list], variants: list[dict] | None = None) -> dict:
    """``{label: {"input", "refined", "refused"}}`` of ``model`` on ``rows``; with ``variants`` (dicts of
    `POST_FIELDS` values, the model's config for a field not given), a list of such dicts, one per
    variant: refined once without those steps, then `weigh_changes` and `smooth_over_time` as refine()
    applies them last (the same result for inputs without NaN, which refine() would fill first)."""
    out: list[dict] = [{} for _ in variants or [None]]
    for label, items in rows.items():
        refined, refused = [], 0
        for x, _, _, c in items:
            confidence = c if model.config.in_channels == 4 else None
            extra = {} if variants is None else {"smoothing_sigma": 0.0, "change_weight": 1.0}
            try:
                # No flip test here (half the cost, the same for every candidate); SS3 uses it.
                refined.append(np.asarray(model.refine(x, confidence=confidence, flip_test=False, **extra), np.float32))
            except UnitsError:
                # refine() refuses a sequence it cannot take as metres (a lifter's output gone far off
                # scale): a user gets the error and keeps the input, so the input is scored.
                refined.append(None)
                refused += 1
        scored_input = sequence_errors([(x, y, v) for x, y, v, _ in items])
        for k, variant in enumerate(variants or [None]):
            settings = {f: getattr(model.config, f) for f in POST_FIELDS} | (variant or {})
            outputs = [
                x if r is None else r if variant is None else _post_process(r, x, **settings)
                for r, (x, _, _, _) in zip(refined, items)
            ]
            out[k][label] = {
                "input": scored_input,
                "refined": sequence_errors([(r, y, v) for r, (_, y, v, _) in zip(outputs, items)]),
                "refused": refused,
            }
    return out[0] if variants is None else out


def _post_process(refined, poses, change_weight: float, full_change_min: float | None, smoothing_sigma: float):
    """refine()'s last steps on one ``(T, V, 3)`` sequence refined without them (`validate`)."""
    out = np.asarray(refined, np.float64)[None]
    if change_weight < 1:
        out = weigh_changes(out, np.asarray(poses, np.float64)[None], change_weight, full_change_min)
    if smoothing_sigma:
        out = smooth_over_time(out, smoothing_sigma)
    return out[0].astype(np.float32)


def parse_variants(args) -> list[dict] | None:
    """``lolo``'s post-processing variants: ``--smoothing-sigmas`` and/or ``--variants`` JSON objects, checked
    before any refinement (not after the first run)."""
    variants = [{"smoothing_sigma": sigma} for sigma in args.smoothing_sigmas or ()]
    for text in args.variants or ():
        try:
            variant = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--variants: expected JSON objects, got {text!r} ({error})") from None
        if not isinstance(variant, dict) or not variant or set(variant) - set(POST_FIELDS):
            raise ValueError(f"--variants: expected a JSON object with keys among {POST_FIELDS}, got {text!r}")
        variants.append(variant)
    for variant in variants:
        try:
            GCNRefineConfig(**variant)  # the config's own checks
        except ValueError as error:
            flag = "--variants" if set(variant) != {"smoothing_sigma"} or args.variants else "--smoothing-sigmas"
            raise ValueError(f"{flag}: {error}") from None
    return variants or None


def variant_name(name: str, variant: dict) -> str:
    return name + "".join(f"+{key}={value:g}" if value is not None else f"+{key}=none" for key, value in variant.items())


BONES_ONLY = "constant-bones"


class BonesOnly:
    """The baseline MODEL ``constant-bones``: no network, each input bone set to its median length over
    the sequence (``processing_gcnrefine.constant_bone_lengths``, as ``refine(constant_bone_lengths=True)``)."""

    config = GCNRefineConfig()  # in_channels 3: no confidence

    def refine(self, poses, confidence=None, flip_test=False, smoothing_sigma=0.0, change_weight=1.0):
        pairs = list(zip(self.config.joints_left, self.config.joints_right))
        fixed = constant_bone_lengths(np.asarray(poses)[None], self.config.joint_parents, pairs)
        return _post_process(fixed[0], poses, change_weight, self.config.full_change_min, smoothing_sigma)


def lolo(args) -> None:
    variants = parse_variants(args)  # checked before any refinement, not after the first run
    cache: dict = {}
    results = []
    for held_out, name, run in tqdm(args.run, desc="candidates"):
        # A run folder's data.json (or its parent's, for best/) names the lifters it trained on; a
        # shipped checkpoint has none, and then only the unseen column is filled.
        found = [m for m in (Path(run) / "data.json", Path(run).parent / "data.json") if m.exists()]
        meta = json.loads(found[0].read_text()) if found else None
        trained_on = [Path(d) for d in meta["backbone_dirs"]] if meta else []
        subjects = tuple(args.val_subjects)
        if subjects:
            # A held-out subject: the lifter may be one it trained on; the person, scene and cameras are new.
            _never_trained_on(str(run), meta, subjects, args.data)
        elif Path(held_out) in trained_on and not args.in_lifter:
            raise ValueError(f"--run: {run} trained on {held_out}; expected a lifter it never saw (or --in-lifter)")
        model = BonesOnly() if run == BONES_ONLY else GCNRefineModel.from_pretrained(resolve_model(str(run))).eval()
        entry = {"candidate": name, "run": str(run), "held_out": held_out, "trained_on": [str(d) for d in trained_on]}
        entry["val_subjects"] = list(subjects)
        entry["in_lifter"] = not subjects and Path(held_out) in trained_on
        rows = functools.partial(
            held_out_motions, data=args.data, cache=cache, val_subjects=subjects, presets=tuple(args.presets),
            virtual_views=args.virtual_views,
        )
        others = [d for d in trained_on if d != Path(held_out)]
        if variants is None:
            entry["unseen"] = validate(model, rows(Path(held_out)))
            entry["seen"] = {str(d): validate(model, rows(d)) for d in others}
            results.append(entry)
            continue
        # One candidate per variant, listed in the order given (the tie rule keeps the earlier).
        unseen = validate(model, rows(Path(held_out)), variants)
        seen = {str(d): validate(model, rows(d), variants) for d in others}
        for k, variant in enumerate(variants):
            results.append({**entry, "candidate": variant_name(name, variant), **variant,
                            "unseen": unseen[k], "seen": {d: v[k] for d, v in seen.items()}})
    text = lolo_markdown(results)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lolo.md").write_text(text)
    (out / "lolo.json").write_text(json.dumps(results, indent=2))


def _cell(row) -> str:
    refused = f"; {row['refused']} refused, scored as input" if row.get("refused") else ""
    return f"{_f(row['refined']['mpjpe'])} ({_f(cut(row['input']['mpjpe'], row['refined']['mpjpe']))} %{refused})"


def lolo_markdown(results) -> str:
    subjects = sorted({s for entry in results for s in entry.get("val_subjects", [])})
    if subjects:
        head = [
            f"Held-out subject validation, every motion of {', '.join(subjects)} (never in the candidates' training): "
            "MPJPE mm, input -> refined (cut), ",
            "occluded-joint MPJPE cut and acceleration-error cut; 'unseen' = the named lifter's predictions of the new "
            "subject (a lifter the candidate may have trained on), 'seen' = the mean over its other training lifters.",
        ]
    else:
        head = [
            "Leave-one-lifter-out validation, held-out SS1/SS2 motions: MPJPE mm, input -> refined (cut), ",
            "occluded-joint MPJPE cut and acceleration-error cut; 'unseen' = the lifter the candidate never trained "
            "on, 'seen' = the mean over the lifters it trained on (same held-out motions).",
        ]
    in_lifter = any(entry.get("in_lifter") for entry in results)
    if in_lifter:
        head.append("With --in-lifter the named lifter is one the run trained on (other motions of it): in-lifter "
                    "validation, as for a lifter's own refiner.")
    lines = [
        *head,
        "",
        "| held-out lifter | candidate | rows | input MPJPE | unseen: refined (cut) | occluded-joint cut | accel cut "
        "| seen: cut |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in results:
        for label, row in sorted(entry["unseen"].items()):
            seen = [entry["seen"][d][label] for d in entry["seen"] if label in entry["seen"][d]]
            seen_cut = np.mean([cut(r["input"]["mpjpe"], r["refined"]["mpjpe"]) for r in seen]) if seen else None
            occluded = cut(row["input"]["mpjpe_occluded"], row["refined"]["mpjpe_occluded"])
            accel = cut(row["input"]["acceleration_error"], row["refined"]["acceleration_error"])
            lines.append(
                f"| {Path(entry['held_out']).parent.name}/{Path(entry['held_out']).name} | {entry['candidate']} | {label} "
                f"| {_f(row['input']['mpjpe'])} | {_cell(row)} | {_f(occluded)} % | {_f(accel)} % | {_f(seen_cut)} % |"
            )
    lines += ["", "Mean MPJPE cut over the occluded, realistic and real-detection rows (real and virtual cameras), "
              "and the worst visible_only change" + (", every lifter:" if subjects else ", the unseen lifter:"), "",
              "| lifter | candidate | mean cut | visible_only change |", "|---|---|---|---|"]
    for entry in results:
        scored = [(entry["held_out"], entry["unseen"])]
        if subjects:  # the new subject is unseen for every lifter: list each one
            scored += list(entry["seen"].items())
        for folder, rows in scored:
            lines.append(f"| {folder} | {entry['candidate']} | {_f(summary_cut(rows))} % | {_f(worst_clean_change(rows))} % |")
    if subjects or in_lifter:
        lines += ["", *choice_lines(results)]
    return "\n".join(lines) + "\n"


CLEAN_LIMIT = 1.0  # issue 14: clean input at most 1 % worse
TIE = 0.5  # points of mean cut within which the earlier-listed (simpler) candidate is kept


def choice_lines(results) -> list[str]:
    """The rule fixed before any held-out-subject figure was seen: a candidate is eligible when its
    visible_only change is at most +1 % on every lifter; among those, the highest mean over lifters of
    the mean cut wins, the earlier-listed one on a tie within 0.5 points; with none eligible, the one
    with the smallest worst clean change, said so."""
    per_candidate: dict[str, dict[str, tuple[float, float]]] = {}
    for entry in results:
        scored = [(entry["held_out"], entry["unseen"]), *entry["seen"].items()]
        for folder, rows in scored:
            per_candidate.setdefault(entry["candidate"], {})[folder] = (summary_cut(rows), worst_clean_change(rows))
    lifters = set.intersection(*(set(v) for v in per_candidate.values()))
    lines = ["| candidate | mean cut over lifters | worst visible_only change | eligible |", "|---|---|---|---|"]
    scores = []
    for name, by_lifter in per_candidate.items():
        mean_cut = float(np.mean([by_lifter[f][0] for f in lifters]))
        worst = max(by_lifter[f][1] for f in lifters)
        scores.append((name, mean_cut, worst))
        lines.append(f"| {name} | {_f(mean_cut)} % | {_f(worst)} % | {'yes' if worst <= CLEAN_LIMIT else 'no'} |")
    eligible = [s for s in scores if s[2] <= CLEAN_LIMIT]
    if eligible:
        best = max(s[1] for s in eligible)
        chosen = next(s for s in eligible if s[1] >= best - TIE)
        lines += ["", f"Chosen by the rule (no harm on clean input, then the best mean cut, ties within {TIE} points "
                  f"to the earlier-listed): {chosen[0]}."]
    else:
        chosen = min(scores, key=lambda s: s[2])
        lines += ["", f"No candidate keeps every lifter's clean input within +{CLEAN_LIMIT:.0f} %; the least harmful: "
                  f"{chosen[0]} ({_f(chosen[2])} %)."]
    lines.append(f"(Over the lifters every candidate was scored on: {', '.join(sorted(lifters))}.)")
    return lines


def combine(args) -> None:
    """The choice rule over several held-out-subject lolo.json files at once (e.g. SS2 with SS1-trained
    candidates and SS1 with SS2-trained ones): each lifter counts once per subject, and only candidates
    (by name) scored on every subject of the files compete, in the order first met (the tie rule), or only
    ``--candidates``, in their order."""
    results, order, covered = [], [], {}
    for path in args.lolo:
        for entry in json.loads(Path(path).read_text()):
            subjects = ",".join(entry.get("val_subjects", []))
            if not subjects:
                raise ValueError(f"--lolo: {path} is not a held-out-subject run (lolo --val-subjects)")
            name = entry["candidate"]
            if name not in order:
                order.append(name)
            covered.setdefault(name, set()).add(subjects)
            results.append({**entry, "held_out": f"{entry['held_out']}@{subjects}",
                            "seen": {f"{d}@{subjects}": rows for d, rows in entry["seen"].items()}})
    every = set.union(*covered.values()) if covered else set()
    if args.candidates:
        missing = [n for n in args.candidates if n not in covered]
        if missing:
            raise ValueError(f"--candidates: expected names from the files, got {missing}")
        order = list(args.candidates)  # the order given (the tie rule)
    names = [n for n in order if covered[n] == every]
    if not names:
        raise ValueError(f"--lolo: expected a candidate scored on every subject {sorted(every)}, got none in {args.lolo}")
    results = sorted((e for e in results if e["candidate"] in names), key=lambda e: names.index(e["candidate"]))
    left = [n for n in order if n not in names]
    text = "\n".join([f"Choice over {', '.join(args.lolo)} (each lifter once per held-out subject):", "",
                       *choice_lines(results)]
                      + ([f"(Not scored on every subject, left out: {', '.join(left)}.)"] if left else [])) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


def summary_cut(rows) -> float:
    """Mean MPJPE cut (%) over a lifter's rows with occlusion (every row but visible_only)."""
    return float(np.mean([cut(r["input"]["mpjpe"], r["refined"]["mpjpe"]) for k, r in rows.items() if "visible_only" not in k]))


def worst_clean_change(rows) -> float:
    """The largest MPJPE change (%, positive = worse) over a lifter's visible_only rows."""
    return max(-cut(r["input"]["mpjpe"], r["refined"]["mpjpe"]) for k, r in rows.items() if "visible_only" in k)


# --- SS3 goals -----------------------------------------------------------------------------------


def _goal(goal: str, target: str, measured, met: bool | None, detail: str = "") -> dict:
    return {"goal": goal, "target": target, "measured": measured, "met": met, "detail": detail}


def ss3_table(model, bank, data) -> dict:
    test = camera_sequences(load_blendmimic3d(data)["test"])
    table: dict[str, dict] = {}
    for name, folder in tqdm(bank, desc="bank lifters"):
        table[name] = {}
        for preset in SS3_ROWS:
            path = prediction_path(Path(folder), "test", preset, TEST_SEED)
            if not path.exists():
                continue
            predictions = aligned_predictions(load_predictions(path), test, path.name)
            table[name][preset] = {
                "alone": measure(test, predictions),
                "refined": measure(test, refine_all(model, test, predictions, preset)),
            }
    return table


def headroom_closed(rows) -> float | None:
    """Share of the occluded-vs-clean MPJPE gap the refiner closes (both presets refined)."""
    if "occluded" not in rows or "visible_only" not in rows:
        return None
    gap = rows["occluded"]["alone"]["mpjpe"] - rows["visible_only"]["alone"]["mpjpe"]
    after = rows["occluded"]["refined"]["mpjpe"] - rows["visible_only"]["refined"]["mpjpe"]
    return None if gap <= 0 else 100 * (1 - after / gap)


def ss3_goals(table, kinds: dict[str, str], builtin: str) -> list[dict]:
    goals = []
    for name, rows in table.items():
        need = 40.0 if name.lower().startswith("semgcn") else 20.0
        for preset in ("realistic", "real"):
            if preset not in rows:
                goals.append(_goal(f"{name}, {preset}: MPJPE cut", f">= {need:.0f} %", None, None, "no prediction file"))
                continue
            a, r = rows[preset]["alone"], rows[preset]["refined"]
            goals.append(_goal(f"{name}, {preset}: MPJPE cut", f">= {need:.0f} %", cut(a["mpjpe"], r["mpjpe"]),
                               cut(a["mpjpe"], r["mpjpe"]) >= need, f"{a['mpjpe']:.1f} -> {r['mpjpe']:.1f} mm"))
            occ = cut(a["mpjpe_occluded"], r["mpjpe_occluded"])
            goals.append(_goal(f"{name}, {preset}: occluded-joint MPJPE cut", ">= 20 %", occ, occ is not None and occ >= 20,
                               f"{_f(a['mpjpe_occluded'])} -> {_f(r['mpjpe_occluded'])} mm"))
        if "visible_only" in rows:
            a, r = rows["visible_only"]["alone"], rows["visible_only"]["refined"]
            change = -cut(a["mpjpe"], r["mpjpe"])
            goals.append(_goal(f"{name}, visible_only: MPJPE change", "<= +1 %", change, change <= 1.0,
                               f"{a['mpjpe']:.1f} -> {r['mpjpe']:.1f} mm"))
        need_accel = 80.0 if kinds[name] == SINGLE_FRAME else 50.0
        for preset in ("realistic", "real"):
            if preset in rows:
                a, r = rows[preset]["alone"], rows[preset]["refined"]
                accel = cut(a["acceleration_error"], r["acceleration_error"])
                goals.append(_goal(f"{name} ({kinds[name]}), {preset}: acceleration error cut", f">= {need_accel:.0f} %",
                                   accel, accel >= need_accel,
                                   f"{a['acceleration_error']:.1f} -> {r['acceleration_error']:.1f} mm/frame²"))
    closed = headroom_closed(table.get(builtin, {}))
    goals.append(_goal(f"{builtin}: occlusion headroom closed (occluded vs visible_only)", ">= 50 %", closed,
                       closed is not None and closed >= 50))
    return goals


def speed_and_memory(model: GCNRefineModel, frames: int, threads: int | None) -> list[dict]:
    torch.manual_seed(0)
    paper = GCNRefineModel(GCNRefineConfig.paper(num_frames=3)).eval()
    poses = sequence(frames)
    fps = {}
    for label, m in (("refiner", model), ("paper T=3", paper)):
        m.refine(poses[:512], flip_test=False)  # warm-up
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            m.refine(poses, flip_test=False)
            best = min(best, time.perf_counter() - start)
        fps[label] = frames / best
    ratio = fps["refiner"] / fps["paper T=3"]
    goals = [_goal("speed: frames/s over the paper-size T = 3 model's (no flip test, same process)", ">= 4x", ratio,
                   ratio >= 4, f"{fps['refiner']:.0f} vs {fps['paper T=3']:.0f} frames/s on {frames} frames")]
    config = model.config.to_dict()
    short = peak_memory_mib("long_range", 9000, 1024, threads, config)
    hour = peak_memory_mib("long_range", HOUR_FRAMES, 1024, threads, config)
    if short is not None and hour is not None:
        arrays = 2 * HOUR_FRAMES * 17 * 3 * 4 / 2**20  # the hour's input and output pose arrays, float32
        grown = hour[0] - short[0]
        goals.append(_goal("memory: growth of peak extra MiB, an hour of 50 fps over 3 minutes", "bounded", grown,
                           grown <= 4 * arrays, f"{hour[0]:.0f} vs {short[0]:.0f} MiB; met when the growth stays within "
                           f"4x the hour's own pose arrays ({arrays:.0f} MiB)"))
    return goals


def in_the_wild(model: GCNRefineModel, path: Path) -> list[dict]:
    if not path.exists():
        return [_goal("in-the-wild example: bone-length spread cut", ">= 50 %", None, None, f"{path} not found")]
    poses = np.load(path, allow_pickle=False)[:, 0].astype(np.float32)  # (T, 17, 3)
    refined = np.asarray(model.refine(poses, flip_test=True), np.float32)
    spread = cut(bone_length_spread(poses), bone_length_spread(refined))
    before, after = jitter(poses), jitter(refined)
    return [
        _goal("in-the-wild example: bone-length spread cut", ">= 50 %", spread, spread >= 50,
              f"{bone_length_spread(poses):.1f} -> {bone_length_spread(refined):.1f} mm"),
        _goal("in-the-wild example: jitter change", "not up (<= 0 %)", -cut(before, after), after <= before,
              f"{before:.2f} -> {after:.2f} mm/frame²"),
    ]


def goals_markdown(table, goals, refiner: str) -> str:
    lines = [f"SS3 with the refiner {refiner}: MPJPE / occluded-joint MPJPE (mm), acceleration error (mm/frame²), alone -> refined:",
             "", "| lifter | detections | MPJPE | occluded-joint MPJPE | acceleration error |", "|---|---|---|---|---|"]
    for name, rows in table.items():
        for preset, row in rows.items():
            a, r = row["alone"], row["refined"]
            lines.append(f"| {name} | {preset} | {_f(a['mpjpe'])} -> {_f(r['mpjpe'])} ({_f(cut(a['mpjpe'], r['mpjpe']))} %) "
                         f"| {_f(a['mpjpe_occluded'])} -> {_f(r['mpjpe_occluded'])} "
                         f"| {_f(a['acceleration_error'])} -> {_f(r['acceleration_error'])} |")
    lines += ["", "Goals (issue 14):", "", "| goal | target | measured | met | detail |", "|---|---|---|---|---|"]
    for g in goals:
        unit = "x" if g["target"].endswith("x") else (" MiB" if g["target"] == "bounded" else " %")
        met = "-" if g["met"] is None else ("yes" if g["met"] else "MISSED")
        lines.append(f"| {g['goal']} | {g['target']} | {_f(g['measured'])}{unit if g['measured'] is not None else ''} "
                     f"| {met} | {g['detail']} |")
    return "\n".join(lines) + "\n"


def goals_command(args) -> None:
    model = GCNRefineModel.from_pretrained(resolve_model(args.refiner)).eval()
    kinds = dict(args.kind or [])
    bank = [(name, folder) for name, folder in args.bank]
    for name, _ in bank:
        kinds.setdefault(name, TEMPORAL if name == args.builtin else SINGLE_FRAME)
    table = ss3_table(model, bank, args.data)
    goals = ss3_goals(table, kinds, args.builtin)
    goals += in_the_wild(model, Path(args.example))
    if not args.no_speed:
        goals += speed_and_memory(model, args.frames, args.threads)
    text = goals_markdown(table, goals, args.refiner)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "goals.md").write_text(text)
    (out / "goals.json").write_text(json.dumps({"refiner": args.refiner, "bank": bank, "table": table, "goals": goals}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    val = commands.add_parser("lolo", help="leave-one-lifter-out validation table (SS1/SS2 held-out motions)")
    val.add_argument("--run", nargs=3, action="append", required=True, metavar=("HELD_OUT_BACKBONE", "NAME", "MODEL"),
                     help="a candidate: the backbone folder it never trained on, its name, its model folder (or constant-bones: no network, the input with each bone at its median length)")
    val.add_argument("--data", default=None, help="BlendMimic3D source")
    val.add_argument("--val-subjects", nargs="+", default=[], metavar="SUBJECT",
                     help="score every motion of these subjects instead of the held-out motions (candidates trained "
                          "with `gcnrefine train --val-subjects` on them: a new person, scene and cameras, as SS3 is)")
    val.add_argument("--presets", nargs="+", default=list(PRESETS), metavar="PRESET",
                     help="simulated detection presets to score (real detections are added where the folder has them)")
    val.add_argument("--virtual-views", type=int, default=None, metavar="K",
                     help="score the first K virtual views of each action only (default: all)")
    val.add_argument("--in-lifter", action="store_true",
                     help="accept a run trained on the named lifter (its held-out motions only): a lifter's own refiner")
    val.add_argument("--smoothing-sigmas", nargs="+", type=float, default=None, metavar="SIGMA",
                     help="score each run with each refine(smoothing_sigma=SIGMA) (frames; 0 = none) as its own candidate, "
                     "in this order; default: the run's own config")
    val.add_argument("--variants", nargs="+", default=None, metavar="JSON",
                     help=f"score each run with each JSON object of refine()'s last steps ({', '.join(POST_FIELDS)}; "
                     "the run's config for a key not given) as its own candidate, in this order, after any --smoothing-sigmas")
    val.add_argument("--out", default="outputs/lifter_bank", help="folder for lolo.md and lolo.json")
    val.set_defaults(func=lolo)
    both = commands.add_parser("combine", help="the choice rule over several held-out-subject lolo.json files")
    both.add_argument("--lolo", nargs="+", required=True, metavar="LOLO_JSON", help="lolo.json of lolo --val-subjects runs")
    both.add_argument("--candidates", nargs="+", default=None, metavar="NAME",
                      help="only these candidates, in this order (the tie rule's); default: all, in the order first met")
    both.add_argument("--out", default=None, help="write the table here too (markdown)")
    both.set_defaults(func=combine)
    test = commands.add_parser("goals", help="SS3 table and issue 14's goals for one refiner")
    test.add_argument("--refiner", default="gcnrefine-blendmimic3d", help="shipped name, folder or Hub id")
    test.add_argument("--bank", nargs=2, action="append", required=True, metavar=("NAME", "BACKBONE"),
                      help="a bank lifter: its name and `gcnrefine backbone` folder (SS3 prediction files)")
    test.add_argument("--kind", nargs=2, action="append", metavar=("NAME", "KIND"),
                      help=f"{SINGLE_FRAME} or {TEMPORAL} (default: --builtin is {TEMPORAL}, the rest {SINGLE_FRAME})")
    test.add_argument("--builtin", default="temporal", help="bank name of the built-in temporal lifter (headroom goal)")
    test.add_argument("--data", default=None, help="BlendMimic3D source")
    test.add_argument("--example", default=str(DEFAULT_EXAMPLE), help="in-the-wild VideoPose3D output (T, 1, 17, 3)")
    test.add_argument("--frames", type=int, default=10_000, help="sequence length of the speed measurement")
    test.add_argument("--threads", type=int, default=None, help="torch threads of the memory measurement")
    test.add_argument("--no-speed", action="store_true", help="skip speed and memory")
    test.add_argument("--out", default="outputs/lifter_bank", help="folder for goals.md and goals.json")
    test.set_defaults(func=goals_command)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
