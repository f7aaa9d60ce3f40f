"""Bounded contexts; each package owns its storage and exposes only ``contract``."""
