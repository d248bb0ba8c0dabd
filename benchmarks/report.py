"""Markdown table, PNG chart and JSON of a benchmark run."""

from __future__ import annotations

import json
import os
import statistics
from typing import Any


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _fmt_s(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"


def build_rows(results: dict[str, Any], raw_bytes: int) -> list[dict[str, Any]]:
    rows = []
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
                    "output_mb": ok[-1].get("output_bytes", 0) / 1e6,
                    "failed": failures,
                }
            )
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if "seconds" in r:
            by[(r["tool"], r["phase"])] = r
        elif "wrong_seconds" in r:  # compared, but flagged
            by[(r["tool"], r["phase"])] = {**r, "seconds": r["wrong_seconds"], "wrong": True}
    lines = []
    for osi in ("osidump", "osidump (S3)"):
        for phase in ("export", "restore"):
            mine = by.get((osi, phase))
            if not mine:
                continue
            parts = []
            for peer in ("mariadb-dump|zstd", "mydumper", "floor (SELECT *)"):
                other = by.get((peer, phase if peer != "floor (SELECT *)" else "export"))
                if other and (peer != "floor (SELECT *)" or phase == "export"):
                    parts.append(
                        f"{mine['seconds']['median'] / other['seconds']['median']:.2f}x {peer}"
                    )
            if parts:
                lines.append(f"- {osi} {phase}: " + ", ".join(parts))
    return lines


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"# Benchmark: {meta['dataset_mb']:.0f} MB raw (InnoDB data_length), scale {meta['scale']}, "
        f"{meta['reps']} repetitions, {meta['threads']} threads",
        "",
        f"Machine: {meta['machine']}. Server: {meta['server']}. Run {meta['when']}.",
        "Wall time is the median with (min–max); MB/s is raw data / median time; RSS is the peak of the",
        "largest process of the tool (for a pipeline, its biggest member). Every restore was checked with",
        "CHECKSUM TABLE against the source; a mismatch counts as a failure, not a time.",
        "",
        "| tool | phase | wall time | MB/s | peak RSS | output |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        r = {**r, "tool": r["tool"].replace("|", "\\|")}  # a pipe would split the table cell
        if "seconds" not in r:
            took = (
                f" (wrong result after {_fmt_s(r['wrong_seconds'])})"
                if "wrong_seconds" in r
                else ""
            )
            out.append(f"| {r['tool']} | {r['phase']} | FAILED: {r['failed'][0]}{took} | | | |")
            continue
        fail = f" ({len(r['failed'])} failed)" if r["failed"] else ""
        output = f"{r['output_mb']:.0f} MB" if r["phase"] == "export" else "-"
        out.append(
            f"| {r['tool']} | {r['phase']} | {_fmt_s(r['seconds'])}{fail} | {r['mb_s']:.0f} | "
            f"{r['rss_mb']:.0f} MB | {output} |"
        )
    out += [
        "",
        "Ratios (osidump time / peer time, median; below 1.0 is faster):",
        "",
        *ratios(rows),
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
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, phase in zip(axes, ("export", "restore"), strict=True):
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def write(results: dict[str, Any], meta: dict[str, Any], out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    rows = build_rows(results, meta["dataset_bytes"])
    md = markdown(rows, meta)
    with open(os.path.join(out_dir, "latest.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(out_dir, "latest.json"), "w") as fh:
        json.dump({"meta": meta, "results": results, "rows": rows}, fh, indent=1)
    note = chart(rows, os.path.join(out_dir, "latest.png"))
    return md + (f"\n{note}\n" if note else "")
