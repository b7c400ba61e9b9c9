"""One module per benchmark phase; each ``phase_<name>(env) -> dict`` returns its part of the results JSON."""
