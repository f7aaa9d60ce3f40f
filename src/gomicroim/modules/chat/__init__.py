"""Chat: sending, conversations, history (roaming) and read positions."""
