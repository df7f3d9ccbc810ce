"""The daemon's own state: findings, scan runs (and, with alerts, letters and outbox).

SQLite by default, PostgreSQL in production; schema changes go through the
Alembic migrations in ``migrations/`` (``sunlight db upgrade``).
"""

from sunlight.monitor.store.db import open_store, upgrade
from sunlight.monitor.store.letters_models import AuditEntry, DeliveryRow, LetterFindingRow, LetterRow
from sunlight.monitor.store.models import Base, FindingRow, ScanRun

__all__ = ["AuditEntry", "Base", "DeliveryRow", "FindingRow", "LetterFindingRow", "LetterRow", "ScanRun",
           "open_store", "upgrade"]
