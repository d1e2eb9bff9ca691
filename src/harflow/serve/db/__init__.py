"""The service's database: tables, engine and migrations, queries, the group-commit writer."""
