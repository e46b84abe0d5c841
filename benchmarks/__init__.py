"""Scale benchmarks: scripts that print figures (no timed assertions anywhere in the test suite)."""
