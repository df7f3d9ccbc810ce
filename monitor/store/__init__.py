"""The daemon's own state: findings, scan runs (and, with alerts, letters and outbox).

SQLite by default, PostgreSQL in production; schema changes go through the
Alembic migrations in ``migrations/`` (``sunlight db upgrade``).
"""

from sunlight.monitor.store.db import open_store, upgrade
from sunlight.monitor.store.models import FindingRow, ScanRun

__all__ = ["FindingRow", "ScanRun", "open_store", "upgrade"]
