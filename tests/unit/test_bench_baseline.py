"""`bench --baseline`: the new/old table pairs each row with the baseline's row of the
same name and divides throughput and server CPU per request."""

from __future__ import annotations

from pathlib import Path

from bench.baseline import Build, comparison
from bench.harness import Report, Row


def test_comparison_pairs_rows_by_name() -> None:
    build = Build("d0fe6db", "d0fe6db4d42c0f514bf699b02b01cab19c01c3de", Path("/x/bin/python"))
    report = Report(quick=True)
    report.add(Row("1a createOrder", "120 orders/s", "-", None, "-", None,
                   rate=120.0, cpu_ms=4.0))
    report.add(Row("9 only new", "x", "-", None, "-", None, rate=1.0))
    report.suffix = build.label
    report.add(Row("1a createOrder", "60 orders/s", "-", None, "-", None,
                   rate=60.0, cpu_ms=10.0))
    table = comparison(report, build).splitlines()
    assert table[0] == ("| benchmark | this build | d0fe6db | throughput new/old "
                        "| server CPU per request new/old |")
    # 120 / 60 = 2.00 the throughput; 4.0 / 10.0 = 0.40 the CPU per request
    assert table[2:] == ["| 1a createOrder | 120 orders/s | 60 orders/s | 2.00 | 0.40 |"]
