"""Pure policy: no I/O, no clock, no AWS. Everything here is decided from plain values."""
