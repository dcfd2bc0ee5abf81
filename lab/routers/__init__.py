"""Customer router kinds: the interface and kind declaration (kind), the registry (registry),
one module per kind (exabgp, frr, bird), and what they share (announcements, daemon_router)."""
