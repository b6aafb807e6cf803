"""The online FDR stream resumes mid-stream and refuses to test a hypothesis twice."""

import json

import pytest

from difflens.errors import DataError
from difflens.stats import Addis, Saffron
from difflens.validation.fdr_stream import OnlineFDRStream
from difflens.validation.scoring import HypothesisResult
from tests.difflens.stats.conftest import random_stream


def results(p_values):
    return [HypothesisResult(f"h{i:04d}", i, f"hypothesis {i}", "intervention", 20, 20, 0, 15, 0.75, 0.8, p, p)
            for i, p in enumerate(p_values)]


def test_resumes_mid_stream_with_identical_decisions(tmp_path):
    p, _ = random_stream(2, n=40, pi1=0.4)
    whole = OnlineFDRStream(tmp_path / "whole", Saffron()).update(results(p))
    OnlineFDRStream(tmp_path / "parts", Saffron()).update(results(p[:17]))
    resumed = OnlineFDRStream(tmp_path / "parts", Saffron())  # a new process reads the saved state
    assert resumed.procedure.t == 17
    new = resumed.update(results(p))
    assert [r["t"] for r in new] == list(range(18, 41))
    lines = lambda d: (tmp_path / d / "saffron_results.jsonl").read_text()  # noqa: E731
    assert lines("parts") == lines("whole")
    assert [json.loads(x) for x in lines("whole").splitlines()] == whole
    assert (tmp_path / "whole/discoveries.md").read_text() == (tmp_path / "parts/discoveries.md").read_text()


def test_a_tested_hypothesis_cannot_change(tmp_path):
    OnlineFDRStream(tmp_path, Saffron()).update(results([0.001, 0.5]))
    with pytest.raises(DataError, match=r"'h0001' was tested with p = 0.5 and now has p = 0.4"):
        OnlineFDRStream(tmp_path, Saffron()).update(results([0.001, 0.4, 0.2]))
    with pytest.raises(DataError, match="cannot change its procedure midway"):
        OnlineFDRStream(tmp_path, Addis())


def test_discoveries_report(tmp_path):
    OnlineFDRStream(tmp_path, Saffron(alpha=0.1)).update(results([1e-6, 0.9, 1e-5]))
    report = (tmp_path / "discoveries.md").read_text()
    assert "2 of 3 hypotheses validated" in report and "| 1 | hypothesis 0 |" in report
