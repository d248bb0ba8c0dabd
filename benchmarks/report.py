"""Markdown table, PNG chart and JSON of a benchmark run."""

from __future__ import annotations

import json
import os
import statistics
from typing import Any


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _fmt_s(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"


def build_rows(
    results: dict[str, Any], raw_bytes: int, unavailable: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"tool": tool, "phase": "export", "failed": [why], "unavailable": True}
        for tool, why in (unavailable or {}).items()
    ]
    for tool, phases in results.items():
        for phase, runs in phases.items():
            ok = [r for r in runs if r["ok"]]
            failures = [r["error"] for r in runs if not r["ok"]]
            if not ok:
                # A wrong answer is a failure, not a time; the time is still shown
                # beside it so a reader can see what the wrong answer cost.
                wrong = [r for r in runs if r.get("wrong_result")]
                row: dict[str, Any] = {
                    "tool": tool,
                    "phase": phase,
                    "failed": failures[:1] or ["no run"],
                }
                if wrong:
                    row["wrong_seconds"] = summarize([r["seconds"] for r in wrong])
                    row["rss_mb"] = max(r["peak_rss_kb"] for r in wrong) / 1024
                    row["tree_rss_mb"] = max(r.get("tree_rss_kb", 0) for r in wrong) / 1024
                rows.append(row)
                continue
            secs = summarize([r["seconds"] for r in ok])
            rows.append(
                {
                    "tool": tool,
                    "phase": phase,
                    "seconds": secs,
                    "mb_s": raw_bytes / 1e6 / secs["median"],
                    "rss_mb": max(r["peak_rss_kb"] for r in ok) / 1024,
                    "tree_rss_mb": max(r.get("tree_rss_kb", 0) for r in ok) / 1024,
                    "output_mb": ok[-1].get("output_bytes", 0) / 1e6,
                    "cpu": summarize([r.get("cpu_seconds", 0.0) for r in ok]),
                    "failed": failures,
                }
            )
    return rows


OSIDUMP = ("osidump", "osidump (S3)")
SEALED = ("osidump (signed)", "osidump (encrypted)")  # compared with plain osidump
PEERS = ("mariadb-dump|zstd", "mydumper")
FLOOR = "floor (SELECT *)"
LOAD_FLOOR = "floor (LOAD DATA)"
KEYS_FLOOR = "floor (LOAD DATA, keys after)"


def _ratio(mine: float, other: float) -> str:
    return f"{mine / other:.2f}x" if other else "n/a"


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Each osidump figure over each peer's (and the floor's, for export)."""
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if "seconds" in r:
            by[(r["tool"], r["phase"])] = r
        elif "wrong_seconds" in r:  # compared, but flagged: the peer's answer was wrong
            by[(r["tool"], r["phase"])] = {**r, "seconds": r["wrong_seconds"], "wrong": True}
    lines = []
    for sealed in SEALED:
        for phase in ("export", "restore"):
            mine, plain = by.get((sealed, phase)), by.get(("osidump", phase))
            if mine and plain and not mine.get("wrong"):
                cost = mine["seconds"]["median"] / plain["seconds"]["median"] - 1
                parts = [f"time {cost:+.1%}"]
                if mine.get("cpu") and plain.get("cpu") and plain["cpu"]["median"]:
                    cpu = mine["cpu"]["median"] / plain["cpu"]["median"] - 1
                    parts.append(
                        f"tool CPU {cpu:+.1%} ({plain['cpu']['median']:.2f} -> "
                        f"{mine['cpu']['median']:.2f} s)"
                    )
                if "rss_mb" in mine and "rss_mb" in plain:
                    parts.append(f"peak RSS {_ratio(mine['rss_mb'], plain['rss_mb'])}")
                lines.append(f"- {sealed} {phase} vs osidump: {', '.join(parts)}")
    for osi in OSIDUMP:
        for phase in ("export", "restore"):
            mine = by.get((osi, phase))
            if not mine:
                continue
            others = [*PEERS, FLOOR] if phase == "export" else [*PEERS, LOAD_FLOOR, KEYS_FLOOR]
            for peer in others:
                other = by.get((peer, phase))
                if not other:
                    continue
                parts = [f"time {_ratio(mine['seconds']['median'], other['seconds']['median'])}"]
                if "rss_mb" in mine and "rss_mb" in other:
                    parts.append(f"peak RSS {_ratio(mine['rss_mb'], other['rss_mb'])}")
                    parts.append(f"tree RSS {_ratio(mine['tree_rss_mb'], other['tree_rss_mb'])}")
                if phase == "export" and peer not in (FLOOR, LOAD_FLOOR) and "output_mb" in other:
                    parts.append(f"output {_ratio(mine['output_mb'], other['output_mb'])}")
                flag = (
                    " (peer's restore was WRONG; its time is shown for scale)"
                    if other.get("wrong")
                    else ""
                )
                lines.append(f"- {osi} {phase} vs {peer}: {', '.join(parts)}{flag}")
    return lines


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"# Benchmark: {meta['dataset_mb']:.0f} MB raw (InnoDB data_length), scale {meta['scale']}, "
        f"{meta['reps']} repetitions, {meta['threads']} threads",
        "",
        f"Machine: {meta['machine']}. Server: {meta['server']}. Run {meta['when']}.",
        *(
            [
                f"1-minute load average before the timed runs {la['before']:.1f}, after "
                f"{la['after']:.1f} on {meta.get('cores', '?')} cores; the tool and the server "
                "alone keep it near 2, so more means other work shared the machine."
            ]
            if (la := meta.get("load_average"))
            else []
        ),
        "",
        "Wall time is the median with (min–max) over the repetitions, which ran interleaved",
        "(rep 1 of every tool, then rep 2, ...). MB/s is raw data / median time. Peak RSS is",
        "exact for the largest single process (GNU time; for a pipeline, its biggest member);",
        "tree RSS is the whole process tree summed (pipelines included), sampled every 50 ms.",
        "Both are the maximum over the repetitions. Every restore went into a fresh database",
        "and was checked with CHECKSUM TABLE per table plus the names of views, triggers,",
        "routines and events; a mismatch is a FAILURE (its time shown beside it), not a time.",
        "",
        "| tool | phase | wall time | MB/s | peak RSS | tree RSS | output |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        # A pipe would split the table cell: tool names and error text alike.
        r = {**r, "tool": _cell(r["tool"]), "failed": [_cell(f) for f in r["failed"]]}
        if r.get("unavailable"):
            out.append(f"| {r['tool']} | - | {r['failed'][0]} | | | | |")
            continue
        if "seconds" not in r:
            took = (
                f" (wrong result after {_fmt_s(r['wrong_seconds'])})"
                if "wrong_seconds" in r
                else ""
            )
            rss = f"{r['rss_mb']:.0f} MB | {r['tree_rss_mb']:.0f} MB" if "rss_mb" in r else " | "
            out.append(
                f"| {r['tool']} | {r['phase']} | FAILED: {r['failed'][0]}{took} | | {rss} | |"
            )
            continue
        fail = f" ({len(r['failed'])} failed: {r['failed'][0]})" if r["failed"] else ""
        output = f"{r['output_mb']:.0f} MB" if r["phase"] == "export" else "-"
        out.append(
            f"| {r['tool']} | {r['phase']} | {_fmt_s(r['seconds'])}{fail} | {r['mb_s']:.0f} | "
            f"{r['rss_mb']:.0f} MB | {r['tree_rss_mb']:.0f} MB | {output} |"
        )
    out += [
        "",
        "Ratios (osidump figure / peer figure, medians for time; below 1.0 is faster or smaller):",
        "",
        *(ratios(rows) or ["- (no osidump rows to compare)"]),
        "",
        "Tables (InnoDB data_length, MB): "
        + ", ".join(f"{t} {b / 1e6:.0f}" for t, b in meta.get("table_bytes", {}).items()),
        "",
    ]
    out += ["Tool versions:", "", *[f"- {k}: {v}" for k, v in meta["versions"].items()], ""]
    return "\n".join(out)


def chart(rows: list[dict[str, Any]], path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install '.[bench]'); no chart"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, phase in zip(axes[:2], ("export", "restore"), strict=True):
        data = []
        for r in rows:
            if r["phase"] != phase:
                continue
            if "seconds" in r:
                data.append((r["tool"], r["seconds"], False))
            elif "wrong_seconds" in r:
                data.append((f"{r['tool']} (wrong result)", r["wrong_seconds"], True))
        names = [d[0] for d in data]
        med = [d[1]["median"] for d in data]
        err = [
            [d[1]["median"] - d[1]["min"] for d in data],
            [d[1]["max"] - d[1]["median"] for d in data],
        ]
        colors = [
            "#c0392b" if wrong else "#2b7bba" if name.startswith("osidump") else "#999999"
            for name, _, wrong in data
        ]
        bars = ax.barh(names, med, xerr=err, color=colors)
        for bar, (_, _, wrong) in zip(bars, data, strict=True):
            if wrong:
                bar.set_hatch("//")
        ax.set_title(f"{phase} wall time (s), lower is better")
        ax.invert_yaxis()
    mem = [r for r in rows if "tree_rss_mb" in r]
    ax = axes[2]
    ax.barh(
        [f"{r['tool']} {r['phase']}" + ("" if "seconds" in r else " (wrong)") for r in mem],
        [r["tree_rss_mb"] for r in mem],
        color=["#2b7bba" if r["tool"].startswith("osidump") else "#999999" for r in mem],
    )
    ax.set_title("peak RSS of the process tree (MB)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def write(results: dict[str, Any], meta: dict[str, Any], out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    rows = build_rows(results, meta["dataset_bytes"], meta.get("unavailable"))
    md = markdown(rows, meta)
    with open(os.path.join(out_dir, "latest.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(out_dir, "latest.json"), "w") as fh:
        json.dump({"meta": meta, "results": results, "rows": rows}, fh, indent=1)
    note = chart(rows, os.path.join(out_dir, "latest.png"))
    return md + (f"\n{note}\n" if note else "")
