"""Persistence: SQLAlchemy 2 async models and repositories. The only room that imports SQLAlchemy."""
