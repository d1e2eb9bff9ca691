"""Alembic environment: the URL comes from the Config that ``harflow.serve.db.session.migrate`` builds."""

from alembic import context
from sqlalchemy import create_engine

from harflow.serve.db.tables import metadata

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
