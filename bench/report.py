#!/usr/bin/env python3
"""Markdown tables from losscape_bench's JSON lines (bench/run.sh; docs/performance.md).

Usage: report.py results.jsonl > results.md
       report.py --scale scale.jsonl > scale.md   (losscape_bench_scale's lines, bench/run.sh --scale)
Runs are grouped by machine, device, network, images, grid and precision; within a group,
"scaling" is points/s with R ranks over R times points/s with 1 rank with as many threads per rank
(or GPUs): the parallel efficiency when every rank has its own cores or GPU
(`bench/run.sh -- --threads 1` on a CPU).
"""
import json
import re
import sys


def fmt(v, digits=3):
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def settings_tables(r, images):
    """The evaluation settings' gains and the half precisions' deviation (--optimizations)."""
    o = r["optimizations"]
    print(f"Evaluation settings, one rank, forward rate over the {images} images "
          f"({r['date'][:16]}):\n")
    print("| setting | batch | images/s | vs batch 128 NCHW fp32 |")
    print("|---|---|---|---|")
    for s in o["settings"]:
        if s.get("error"):  # a setting that failed here (cuDNN fusion without a fused kernel)
            print(f"| {s['setting']} | {s['batch_size']} | failed: {s['error']} | |")
            continue
        print(f"| {s['setting']} | {s['batch_size']} | {s['images_per_second']:.0f} "
              f"| {s['speedup']:.2f}x |")
    print()
    if o.get("precision_deviation"):
        print("Deviation from fp32 at θ* (same images, same batch size):\n")
        print("| precision | loss fp32 | loss | relative difference | accuracy difference (points) |")
        print("|---|---|---|---|---|")
        def num(v, fmt):  # JSON has no NaN or infinity: a loss that overflowed is null
            return "not finite" if v is None else format(v, fmt)
        for d in o["precision_deviation"]:
            print(f"| {d['precision']} | {num(d['loss_fp32'], '.6f')} | {num(d['loss'], '.6f')} "
                  f"| {num(d['loss_rel_diff'], '.2e')} "
                  f"| {num(d['accuracy_diff_points'], '+.2f')} |")
        print()


def points_per_pass(r):
    """', K points per pass' when the sweep stacked grid points (Model::forward_stacked), and
    ', last N in pieces' when its last N points were handed out in pieces to all ranks (', last N
    shared' in records of an earlier version, without sweep_tail_pieces, which had all ranks
    evaluate them together at the end)."""
    k = r.get("sweep_points_per_forward", 1)
    shared = r.get("sweep_shared_points", 0)
    return ((f", {k} points per pass" if k and k > 1 else "") +
            (f", last {shared} {'in pieces' if 'sweep_tail_pieces' in r else 'shared'}"
             if shared else ""))


def limit_points(r):
    """The forward limit's grid points per pass, where more than one (records since 2026-12-07:
    the limit is the best of the settings the sweep can choose, stacking included)."""
    k = r.get("forward_limit_points_per_forward", 1)
    return f" ({k} points per pass)" if k > 1 else ""


def scaling_table(r, images):
    """The in-run parallel efficiency (--scaling-rounds)."""
    sc = r["scaling_rounds"]
    fwd = "forward_median" in sc  # runs before 2026-11-29 16:00 timed the sweep only
    print(f"Parallel efficiency within one run ({r['date'][:16]}, {r['ranks']} ranks, "
          f"{r['threads_per_rank'] or '-'} thread(s) per rank, grid {sc['grid']}): rounds of "
          f"the sweep on rank 0 alone (the others asleep), then on all ranks"
          + (f", then the same for the bare forward pass (batch {sc['batch_size']}, "
             f"{sc['memory_format']}); sweep / forward is what the sweep itself loses"
             if fwd else "") + ".\n")
    print("| round | sweep, 1 rank (points/s) | sweep, all ranks (points/s) | sweep scaling "
          "| forward, 1 rank (img/s) | forward, all ranks (img/s) | forward scaling "
          "| sweep / forward |")
    print("|---|---|---|---|---|---|---|---|")
    for k, x in enumerate(sc["rounds"], 1):
        row = (f"| {k} | {x['one_rank_points_per_second']:.3f} "
               f"| {x['all_ranks_points_per_second']:.3f} | {x['scaling']:.3f} ")
        if "forward_scaling" in x:
            row += (f"| {x['one_rank_forward_images_per_second']:.0f} "
                    f"| {x['all_ranks_forward_images_per_second']:.0f} "
                    f"| {x['forward_scaling']:.3f} "
                    f"| {x['scaling'] / x['forward_scaling']:.3f} |")
        else:
            row += "| | | | |"
        print(row)
    if fwd:
        print(f"| median | | | **{sc['median']:.3f}** | | | **{sc['forward_median']:.3f}** "
              f"| {sc['median'] / sc['forward_median']:.3f} |")
    else:
        print(f"| median | | | **{sc['median']:.3f}** | | | | |")
    print()


def choice_tables(r, images):
    """How good the start-up choice of batch size and layout is (--choice-trials)."""
    c = r["choice"]
    # runs before 2026-11-29 16:40 had one rank and no "variant": with or without the run-off
    variant = [t.get("variant") or ("with run-off" if t["runoff"] else "scan only")
               for t in c["trials"]]
    several = r["ranks"] > 1
    print(f"Start-up choice of batch size and layout, {r['ranks']} rank(s), "
          f"{r['threads_per_rank'] or '-'} thread(s) per rank ({r['date'][:16]}): each setting's "
          f"forward rate over the {images} images (two measurements averaged"
          + (", all ranks measuring at once, summed" if several else "")
          + "), then choices "
          + ("by all ranks timing together and by rank 0 alone (the others asleep)" if several
             else "with and without the run-off")
          + ", alternately; score = the chosen setting's rate / the best rate.\n")
    print("| layout | batch | images/s |")
    print("|---|---|---|")
    for s in c["settings"]:
        print(f"| {s['memory_format']} | {s['batch_size']} | {s['images_per_second']:.0f} |")
    print()
    print("| choice | picks (layout batch) | seconds (mean) | score (mean) | score (worst) |")
    print("|---|---|---|---|---|")
    for v in dict.fromkeys(variant):
        ts = [t for t, w in zip(c["trials"], variant) if w == v]
        picks = ", ".join(f"{t['memory_format']} {t['batch_size']}" for t in ts)
        print(f"| {v} | {picks} "
              f"| {sum(t['seconds'] for t in ts) / len(ts):.1f} "
              f"| {sum(t['score'] for t in ts) / len(ts):.3f} "
              f"| {min(t['score'] for t in ts):.3f} |")
    print()


def stacked_table(r, images):
    """Several grid points per forward pass against one (--points-per-forward)."""
    st = r["points_per_forward"]
    print(f"Several grid points per forward pass ({r['date'][:16]}, {st['memory_format']}, "
          f"{r['threads_per_rank'] or '-'} thread(s)): point-images/s over the {images} images "
          "(two measurements averaged), each point count at batches of B/K, 2B/K and B images "
          "(B: the batch chosen for one point); * the best batch of a point count.\n")
    print("| points per forward | batch (images) | point-images/s | vs 1 point |")
    print("|---|---|---|---|")
    for x in st["rows"]:
        star = " *" if x["best_of_k"] else ""
        print(f"| {x['points']} | {x['batch_size']} | {x['images_per_second']:.0f} "
              f"| {x['speedup']:.2f}{star} |")
    print()


def load(path, scale):
    """The records of a results file, one JSON object a line; a file that cannot be read, a line
    that is not JSON, or records of the other program end the report in one line."""
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        sys.exit(f"report.py: {path}: cannot be read ({e.strerror})")
    runs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError as e:
            sys.exit(f"report.py: {path}: line {n} is not JSON ({e.msg})")
        if not isinstance(runs[-1], dict):
            sys.exit(f"report.py: {path}: line {n} is not a result record (a JSON object)")
    if not runs:
        sys.exit(f"report.py: {path}: no results")
    for r in runs:
        if scale and "write_rounds" not in r:
            sys.exit(f"report.py: {path}: holds losscape_bench results, not losscape_bench_scale's: "
                     "report it without --scale")
        if not scale and "write_rounds" in r:
            sys.exit(f"report.py: {path}: holds losscape_bench_scale results: report it with --scale")
    return runs


def main(path):
    runs = load(path, scale=False)
    groups = {}
    for r in runs:
        # cpu / cuda:N (NAME): without the thread count, with the card (an H100's and an H200's
        # runs on hosts of one name are two tables); and the machine, where the run recorded it
        kind = re.sub(r" \(\d+ threads?\)$", "", r["device"])
        key = (r["host"], r.get("machine", ""), r["cpu"], kind, r["arch"], r["images"], r["grid"], r["precision"])
        groups.setdefault(key, []).append(r)
    print("# losscape_bench results\n")
    for (host, machine, cpu, device, arch, images, grid, precision), rs in groups.items():
        r0 = rs[-1]
        print(f"## {arch} ({r0['parameters']:,} parameters), {images} CIFAR-shaped images per point, "
              f"grid {grid}, {precision}\n")
        print(f"Machine `{host}`: {cpu}, {r0['cores']} cores; device {device}; "
              f"LibTorch {r0['torch']}; {r0['mpi']}; losscape {r0['losscape']}"
              + (f" (revision {r0['losscape_revision']})" if r0.get("losscape_revision") else "")
              + ".\n")
        print("| date | ranks | threads/rank | batch | layout | forward limit (img/s, all ranks) "
              "| points | sweep wall (s) | set-up (s) | points/s | overhead/point/rank (s) "
              "| efficiency | scaling |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        # An R-rank run pairs with the 1-rank run of the same bench/run.sh invocation, wherever
        # it is in the file (run.sh --ranks "2 1" writes it after); records without a run id,
        # before 2026-12-05, pair with the latest 1-rank record before them in their table.
        of_run = {(r["run"], r["threads_per_rank"]): r for r in rs if r["ranks"] == 1 and r.get("run")}
        one = {}  # the latest 1-rank run per thread count
        for r in rs:
            if r["ranks"] == 1:
                one[(r.get("run", ""), r["threads_per_rank"])] = r
            scaling = ""
            key = (r.get("run", ""), r["threads_per_rank"])
            base = of_run.get(key) if r.get("run") else one.get(key)
            if base and r["ranks"] > 1:
                scaling = fmt(r["points_per_second"] / (r["ranks"] * base["points_per_second"]))
            print(f"| {r['date'][:16]} | {r['ranks']} | {r['threads_per_rank'] or '-'} "
                  f"| {r['batch_size']} | {r['memory_format']}"
                  f"{' + CUDA graphs' if r.get('cuda_graphs') else ''}"
                  f"{' + cuDNN fusion' if r.get('cudnn_fusion') else ''}"
                  f"{points_per_pass(r)} "
                  f"| {r['forward_images_per_second_total']:.0f}{limit_points(r)} | {r['points']} "
                  f"| {r['sweep_wall_seconds']:.2f} | {r['setup_seconds']:.2f} "
                  f"| {r['points_per_second']:.3f} | {r['overhead_seconds_per_point']:.4f} "
                  f"| {r['efficiency']:.3f} | {scaling} |")
        print()
        timings = [r for r in rs if r.get("sweep_startup_timing")]
        if timings:
            print("The sweeps' start-up choice (batch, layout, points per pass), as timed:\n")
            for r in timings:
                print(f"- {r['date'][:16]}, {r['ranks']} rank(s): {r['sweep_startup_timing']}")
            print()
        for key, section in (("optimizations", settings_tables), ("scaling_rounds", scaling_table),
                             ("choice", choice_tables), ("points_per_forward", stacked_table)):
            for r in rs:
                if key in r:
                    section(r, images)


def scale_report(path):
    """One row per losscape_bench_scale run: the write rounds and the coordinator's messages."""
    runs = load(path, scale=True)
    print("# losscape_bench_scale: write rounds and coordinator messages\n")
    print("| date | host | cores | ranks | grid | file (MB) | points/rank/round "
          "| write round, median (s) | slowest (s) | requests/s at rank 0 "
          "| rank 0 per request (us) | round trip (us) | revision |")
    print("|" + "---|" * 13)
    for r in runs:
        w, c = r["write_rounds"], r.get("coordinator") or {}
        cells = [f"{c[k] * s:.{d}f}" if k in c else "" for k, s, d in (
            ("requests_per_second", 1, 0), ("rank0_seconds_per_request", 1e6, 2),
            ("round_trip_seconds", 1e6, 1))]
        print(f"| {r['date']} | {r['host']} | {r['cores']} | {r['ranks']} | {r['grid']} "
              f"| {w['file_bytes'] / 1e6:.1f} | {w['points_per_rank_per_round']} "
              f"| {w['round_seconds_median']:.4f} | {w['round_seconds_max']:.4f} "
              f"| {' | '.join(cells)} | {r['losscape_revision']} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--scale":
        scale_report(sys.argv[2])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
