"""The dashboard users' roles, in a module that imports nothing.

The ``wastemap users add --role`` help lists them; it imports them from here so that
``wastemap --help`` does not import SQLAlchemy and argon2. :mod:`db.users` imports and
re-exports them: use them from there as before.
"""

from __future__ import annotations

#: The roles, least to most rights: each role may do what the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "reviewer", "admin")
