"""The database: models, migrations, sessions, and what is written to it."""
