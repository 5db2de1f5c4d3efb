"""Nightshift operator tooling: the CLI, the local runtime (moto + virtual clock) and the fleet simulator."""
