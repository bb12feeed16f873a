"""Alembic migrations of Kaizen's database (see :mod:`knowledge.store.migrate`).

Add one with ``kaizen db revision -m "what changes"`` after editing
``knowledge/store/models.py``; the test suite fails while the models and the migrations differ.
"""
