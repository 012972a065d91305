"""Storage: schema (SQLAlchemy 2 + GeoAlchemy2), engine/session, and every SQL query."""
