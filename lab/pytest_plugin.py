"""pytest fixtures for interlink-lab (filled in later)."""
