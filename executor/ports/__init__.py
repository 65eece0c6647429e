"""What the daemon needs from the outside world, owned by the daemon: adapters implement these."""
