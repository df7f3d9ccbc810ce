"""Canonical records (data-model.md): typed, validated rows that checks read.

A source row becomes a record or a :class:`~sunlight.monitor.records.base.RowProblem`;
never an exception that stops a cycle (architecture invariant 7).
"""
