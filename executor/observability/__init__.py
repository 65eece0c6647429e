"""Logging and metrics: how the daemon tells its operators what it does."""
