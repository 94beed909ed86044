"""The composition root: the `carewatch` CLI and the local stack. Depends on every part; none depends on it."""
