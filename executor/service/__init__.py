"""Wiring and supervision: starts the daemon's tasks, serves health and readiness, drains on SIGTERM."""
