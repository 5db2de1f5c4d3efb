"""Nightshift's Lambda steps: each module is one short, stateless step of the remediation workflow."""
