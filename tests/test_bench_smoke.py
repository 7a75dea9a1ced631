"""The benchmark harness runs end to end at a tiny size on each backend (figures, no timing asserts).

It seeds, serves ours and the Flask-Admin baseline with gunicorn, measures every scenario and
prints the table; any broken step, unexpected HTTP status or missing row fails this test.
"""

import re
import subprocess
import sys

import pytest

from tests.support.server import ROOT

SCENARIOS = (
    "S1 first page",
    "S2 middle page",
    "S3 search",
    "S4 editor & active",
    "S5 sort -email",
    "S6 save edit",
)
NUMBER = r"\d[\d,]*(?:\.\d+)?"


@pytest.mark.slow
@pytest.mark.server
def test_bench_runs_and_prints_every_scenario(backend, request):
    command = [sys.executable, "-m", "bench", "--users", "300", "--backend", backend, "--no-save"]
    command += ["--seconds", "0.2", "--max-requests", "10", "--floor-repeat", "2", "--export-runs", "1"]
    if backend == "postgresql":
        command += ["--postgres-url", request.getfixturevalue("postgres_base_url")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout[result.stdout.index("| scenario") :]
    for scenario in SCENARIOS:
        for variant in ("ours partial", "ours full page", "baseline"):
            line = re.search(rf"^\| {re.escape(scenario)} +\| {variant} +\|(.*)$", table, re.MULTILINE)
            assert line, f"no row for {scenario} / {variant}"
            p50, p95, rps, size, floor_ms, *_ = (cell.strip() for cell in line.group(1).split("|"))
            for cell in (p50, p95, rps, size, floor_ms):
                assert re.fullmatch(NUMBER, cell), f"{scenario} / {variant}: {line.group(0)}"
            # Every timing measured something (a run in which no request completed reads 0).
            assert float(p50) > 0 and float(rps.replace(",", "")) > 0, line.group(0)
    for variant in ("ours partial, Next link", "ours full page, Next link"):
        assert re.search(rf"^\| S2 middle page +\| {variant} +\| {NUMBER} ", table, re.MULTILINE), variant
    export = re.search(r"^\| S7 CSV export +\| ours +\|.*rows/s; RSS \+[\d.]+ MB", table, re.MULTILINE)
    assert export, "no export row with rows/s and memory growth"
    assert re.search(r"^\| S7 CSV export +\| baseline ", table, re.MULTILINE)
