"""Celery app, tasks and beat schedules: thin wrappers over :mod:`pipeline`."""
