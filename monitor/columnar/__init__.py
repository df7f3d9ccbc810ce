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

#: polars' allocator (jemalloc, its prefixed build) keeps freed pages for 10 s by default:
#: over a scan's thousands of batch frames that is ~22 MB of peak RSS at a million vouchers
#: (bench/README.md, "split_payment from the columns"). Returned at once instead, for ~10%
#: more CPU in the columnar scan. jemalloc reads this when polars is first loaded, which
#: is by this package (every module here imports polars); a value set by the operator wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
