"""The soak: many simulated trading days with the daemon's footprint sampled."""
