"""The all-pairs benchmark runs end to end and reports every figure it promises.

(No timing is asserted: speed is measured by the benchmark itself, as ratios.)"""

from __future__ import annotations

from fairbench.bench.allpairs import run_bench

KEYS = {"n", "dim", "groups", "gemm_gflops", "kernel_cmp_per_s", "ratio_to_gemm", "naive_n",
        "speedup_vs_naive_same_n", "bootstrap_1000_s", "bootstrap_over_pass", "peak_rss_mb",
        "kernel_extra_mb", "float16_vs_float32", "simulated"}


def test_bench_reports_every_figure():
    res = run_bench(n=600, dim=16, groups=3, naive_n=300, replicates=20, repeats=1)
    assert set(res) >= KEYS
    assert res["simulated"] is True and res["naive_n"] == 300
    assert res["ratio_to_gemm"] > 0 and res["gemm_gflops"] > 0
    assert [d["target_fmr"] for d in res["float16_vs_float32"]] == [1e-3, 1e-4]


def test_no_replicates_means_no_bootstrap_figure():
    """Without replicates there is nothing to time: no figure rather than a noise one."""
    res = run_bench(n=400, dim=8, groups=2, naive_n=4, replicates=0, repeats=1,
                    float16=False)
    assert "bootstrap_1000_s" not in res and "bootstrap_over_pass" not in res
