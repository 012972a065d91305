"""Alembic revisions of the WasteMap schema."""
