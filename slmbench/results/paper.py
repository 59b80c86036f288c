"""The paper's own numbers, in one place, with their source: its Table 2 (means over all models and
datasets), per paradigm kind. Source: Wang and Brorsson, "Rethinking Scale: Deployment Trade-offs of
Small Language Models under Agent Paradigms", arXiv 2604.19299, Table 2 (as /work/shared/PAPER.md
and the README's Fidelity section quote it)."""

from __future__ import annotations

SOURCE = "arXiv 2604.19299, Table 2"

# kind -> column of slmbench's Table 2 -> the paper's value (rates as fractions)
TABLE2 = {
    "base": {"nrq": 0.00, "completion_rate": 0.9967, "latency_mean_s": 12.39, "tokens_per_sample": 2356, "tokens_per_s": 190, "energy_mj_per_token": 1.83},
    "single_agent": {"nrq": 4.85, "completion_rate": 0.7992, "latency_mean_s": 23.27, "tokens_per_sample": 8040, "tokens_per_s": 345, "energy_mj_per_token": 1.02},
    "multi_agent": {"nrq": 0.36, "completion_rate": 0.7201, "latency_mean_s": 22.76, "tokens_per_sample": 14618, "tokens_per_s": 642, "energy_mj_per_token": 0.52},
}
