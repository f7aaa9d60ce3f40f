"""Presence: which device of which user is connected to which gateway node."""
