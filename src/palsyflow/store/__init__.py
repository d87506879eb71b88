"""Session store: SQLAlchemy 2 models (:mod:`.models`), engines and alembic migrations
(:mod:`.db`) and repository functions (:mod:`.repo`). See ``docs/store.md``."""
