"""Draws the growth curves of `cargo bench --bench bootstrap` (its CSV) as a PNG.

    hack/plot.sh target/bench/bootstrap.csv target/bench/bootstrap.png

One panel per batch size N: the share of that batch's resources that have their
workloads, over the seconds since the batch was created; ours and ECK (when it ran).
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    curves = defaultdict(list)  # (subject, N) -> [(seconds, done)]
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["subject"], int(row["batch"]))
            curves[key].append((float(row["seconds"]), int(row["with_workloads"])))
    sizes = sorted({n for _, n in curves})
    previous = {n: m for n, m in zip(sizes, [0] + sizes[:-1])}
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        batch = n - previous[n]
        for subject, colour in (("ours", "tab:blue"), ("ECK", "tab:orange")):
            points = curves.get((subject, n))
            if not points:
                continue
            ax.plot(
                [t for t, _ in points],
                [100.0 * d / batch for _, d in points],
                label=subject,
                color=colour,
            )
        ax.set_title(f"N = {n} ({batch} created at once)")
        ax.set_xlabel("seconds since created")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("% of the batch with its workloads")
    axes[0][0].legend(loc="lower right")
    fig.suptitle("Clusters bootstrapping at once, Elasticsearch unreachable (managed mode)")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"plot: {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
