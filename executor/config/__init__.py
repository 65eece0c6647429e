"""Configuration: TOML files in config/, environment overrides, secrets from the environment only."""
