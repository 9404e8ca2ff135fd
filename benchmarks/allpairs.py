"""Benchmark the streaming 1:1 kernel; same as `fairbench bench allpairs`.

    python benchmarks/allpairs.py --n 20000 --dim 512 --groups 12

Prints one JSON object (see fairbench/bench/allpairs.py for every field).
"""

from __future__ import annotations

import argparse
import json

from fairbench.bench.allpairs import run_bench


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--groups", type=int, default=12)
    p.add_argument("--naive-n", type=int, default=10_000)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--target-fmr", type=float, nargs="+", default=[1e-3, 1e-4])
    p.add_argument("--no-float16", action="store_true")
    a = p.parse_args()
    res = run_bench(a.n, a.dim, a.groups, a.naive_n, a.replicates, tuple(a.target_fmr),
                    float16=not a.no_float16)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
