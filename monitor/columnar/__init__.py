"""Columnar exact evaluation of the case checks (issue 11).

The record path (:mod:`sunlight.monitor.readers` → :mod:`sunlight.checks.cases`)
costs ~120 µs of Python per case. This package reads the cases and their
children as Arrow batches, decides with polars, column by column, which case
could fire which check (the working-day calendar as prefix-sum arrays, the
rules of ``shared/design/time-rules.md``), and hands only those cases, and
every case whose shape it does not evaluate itself (a row that may not parse,
several pauses or extensions, an hour limit with a pause, a duplicate key), to
the record path, which reads them from the very rows fetched here and builds
the findings. So the findings, their evidence and traces are the record
path's own; the columnar decision only has to be a superset of it, never
missing a case (tests/test_columnar_identical.py compares both paths field by
field on all three engines).
"""
