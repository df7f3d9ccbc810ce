"""Columnar exact evaluation of the case checks (issue 11).

The record path (:mod:`sunlight.monitor.readers` → :mod:`sunlight.checks.cases`)
costs ~120 µs of Python per case. This package reads the cases and their
children as Arrow batches, decides with polars, column by column, which case
could fire which check (the working-day calendar as prefix-sum arrays, the
rules of ``shared/design/time-rules.md``). The flagged cases it evaluates
itself become the record path's :class:`CaseRecord`, built from the columns
already parsed (:mod:`.records`), and are fed to the checks, whose code builds
the findings, evidence and traces. Every case whose shape it does not
evaluate itself (a row that may not parse, several pauses or extensions, an
hour limit with a pause, a duplicate key) is handed to the record path, which
reads it from the very rows fetched here. The decision only has to be a
superset of the record path's, never missing a case
(tests/test_columnar_identical.py compares both paths' findings field by
field on all three engines, and the built records with the reader's).
"""

import os

#: polars' allocator (jemalloc, its prefixed build) keeps one arena per thread and freed
#: pages for 10 s by default: at a million vouchers ~13 MB of peak RSS, at no CPU cost, with
#: one arena and pages kept 1 s (bench/README.md, "split_payment from the columns"); an
#: operator who needs less sets ``dirty_decay_ms:0`` (~10 MB less again, ~10% more CPU).
#: jemalloc reads this when polars is first loaded, which is by this package (every module
#: here imports polars); a value set in the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0")
