"""WebSocket gateway: connections, frames, delivery of pushes to devices on this node."""
