"""Alembic environment: the engine comes from monitor.store.db, not from an ini file."""

from alembic import context

from sunlight.monitor.store import Base  # the package registers every table on Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
