"""Groups: groups, their members and roles."""
