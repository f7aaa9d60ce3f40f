"""Timeline: each user's sync inbox for write fan-out, with a per-user sequence."""
