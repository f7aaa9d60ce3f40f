"""Fan-out: who gets a committed message, what is stored for them and where it is pushed."""
