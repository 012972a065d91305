"""Ingestion: sources, EXIF/GPS, tracks, validation, batch runs, and the ``wastemap`` CLI."""
