"""The report's view of constrained decoding: each constrained paradigm beside its free twin."""

import pandas as pd

from slmbench.results.constrained import ALL_DATASETS, constrained_table, pairs

PARADIGMS = {
    "base": {"kind": "base"},
    "single_agent": {"kind": "single_agent", "max_turns": 3},
    "single_agent_5": {"kind": "single_agent", "max_turns": 5},
    "sa_grammar": {"kind": "single_agent", "max_turns": 5, "constrain": "protocol"},
    "base_answer": {"kind": "base", "constrain": "answer"},
    "ma_grammar": {"kind": "multi_agent", "constrain": "protocol"},  # no free multi-agent paradigm to compare with
}


def cell(paradigm, dataset, completion, score, higher=True, **failures):
    return {"model": "smol", "paradigm": paradigm, "dataset": dataset, "n": 4, "completion_rate": completion, "score": score,
            "n_missing_answer": round(4 * (1 - completion)),
            "higher_is_better": higher, **{f"failures_{k}": v for k, v in failures.items()}}


def test_a_constrained_paradigm_is_paired_with_its_free_twin():
    assert pairs(PARADIGMS) == {"sa_grammar": "single_agent_5", "base_answer": "base"}


def test_completion_and_score_side_by_side_with_the_failures_that_remain():
    cells = pd.DataFrame([
        cell("single_agent_5", "fpb", 0.0, 0.0, no_final_answer=3, malformed_action=1),
        cell("sa_grammar", "fpb", 1.0, 0.5),
        cell("single_agent_5", "tsa", 0.5, 0.9, higher=False, turn_limit=2),
        cell("sa_grammar", "tsa", 0.75, 0.4, higher=False, tool_error=1),
        cell("base", "fpb", 1.0, 0.3), cell("base_answer", "fpb", 1.0, 0.6),
    ]).fillna(0)
    table = constrained_table(cells, PARADIGMS)
    fpb = table.loc[(table["constrained"] == "sa_grammar") & (table["dataset"] == "fpb")].iloc[0]
    assert (fpb["completion_free"], fpb["completion_grammar"], fpb["score_gain"]) == (0.0, 1.0, 0.5)
    assert (fpb["read_free"], fpb["read_grammar"]) == (0.0, 1.0)
    assert fpb["failures_free"] == "3 no_final_answer, 1 malformed_action" and fpb["failures_grammar"] == "none"
    mean = table.loc[(table["constrained"] == "sa_grammar") & (table["dataset"] == ALL_DATASETS)].iloc[0]
    assert mean["completion_grammar"] == 0.875 and mean["score_grammar"] == 0.5  # TSA's RMSE is not averaged in
    assert table.iloc[0]["dataset"] == ALL_DATASETS  # the mean leads each pair
    assert set(table["constrained"]) == {"sa_grammar", "base_answer"}


def test_a_run_without_constrained_paradigms_gets_an_empty_table_and_says_so():
    table = constrained_table(pd.DataFrame([cell("base", "fpb", 1.0, 0.3)]), {"base": {"kind": "base"}})
    assert table.empty
