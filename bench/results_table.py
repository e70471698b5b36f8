"""Tables of bench/results.sh runs: per (tag, method), mean ± std over seeds of each seed's mean
over cases; Dice and HD95 (voxels) per class and their mean; validation and test side by side; wall time and peak RSS per run; the worst test cases.

    python3 bench/results_table.py bench/results/acdc-exemplar.jsonl [--worst 5] [--models a,b]
"""
import json
import statistics
import sys
from collections import defaultdict


def mean_std(values):
    if not values:
        return "—"
    m = statistics.fmean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def per_seed(run, model, split, metric, cls=None):
    rows = [c for c in run["cases"][model] if c["split"] == split]
    if not rows:
        return None
    if cls is None:
        per_case = [statistics.fmean(c[metric].values()) for c in rows]
    else:
        per_case = [c[metric][cls] for c in rows]
    scale = 100 if metric == "dice" else 1
    return scale * statistics.fmean(per_case)


def main():
    args = sys.argv[1:]
    worst = 5
    models = None  # every model the runs scored (a, b and the fused pair)
    if "--worst" in args:
        i = args.index("--worst")
        worst = int(args[i + 1])
        del args[i:i + 2]
    if "--models" in args:
        i = args.index("--models")
        models = args[i + 1].split(",")
        del args[i:i + 2]
    runs = [json.loads(line) for path in args for line in open(path) if line.strip()]
    groups = defaultdict(list)
    for r in runs:
        groups[(r["tag"], r["method"])].append(r)
    classes = runs[0]["classes"]
    fg = [str(i) for i in range(1, len(classes))]
    names = classes[1:]
    for metric, label in (("dice", "Dice"), ("hd95", "HD95")):
        head = ["setting", "method", "model", "seeds"]
        for split in ("validation", "test"):
            head += [f"{split} {label} {n}" for n in names] if len(fg) > 1 else []
            head += [f"{split} {label}"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for (tag, method), rs in groups.items():
            for model in models or [m for m in ("a", "b", "pair") if m in rs[0]["cases"]]:
                cells = [tag or "-", method, model, str(len(rs))]
                for split in ("validation", "test"):
                    for c in (fg if len(fg) > 1 else []) + [None]:
                        cells.append(mean_std([v for r in rs
                                               if (v := per_seed(r, model, split, metric, c)) is not None]))
                print("| " + " | ".join(cells) + " |")
        print()
    print("| setting | method | seed | wall | peak RSS |")
    print("|---|---|---|---|---|")
    for (tag, method), rs in groups.items():
        for r in rs:
            print(f"| {tag or '-'} | {method} | {r['seed']} | {r['wall']} | {r['rss_mib']} MiB |")
    if worst:
        print()
        for (tag, method), rs in groups.items():
            scores = defaultdict(list)
            for r in rs:
                for c in r["cases"][(models or ["a"])[0]]:
                    if c["split"] == "test":
                        scores[c["case"]].append(100 * statistics.fmean(c["dice"].values()))
            ranked = sorted(scores.items(), key=lambda kv: statistics.fmean(kv[1]))[:worst]
            text = ", ".join(f"{k} {statistics.fmean(v):.1f}" for k, v in ranked)
            print(f"- worst test cases, {tag or '-'} {method} model {(models or ['a'])[0]} (mean Dice over seeds): {text}")


if __name__ == "__main__":
    main()
