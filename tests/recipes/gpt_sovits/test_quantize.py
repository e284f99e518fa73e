"""gpt-sovits-tiny at fp16, int8, int8-qdq and int4: within the recipe's budgets, at one and two threads."""
import pytest

from ttsx.checks.parity import failures, format_table, run_parity


@pytest.mark.parametrize("precision", ["fp16", "int8", "int8-qdq", "int4"])
def test_gpt_sovits_precisions_meet_their_budgets(gpt_sovits_quantized, precision):
    for threads in (1, 2):
        rows = run_parity(gpt_sovits_quantized(precision), threads=threads)
        assert failures(rows) == [], format_table(failures(rows))
        assert {r.output for r in rows if r.metric == "choices agree" and r.passed} == {"t2s tokens"}
