"""Run the real state machines without AWS: moto's Step Functions engine, in-process Lambda, virtual time."""
