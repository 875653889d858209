"""Random numbers from a counter-based generator."""
