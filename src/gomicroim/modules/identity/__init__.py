"""Identity: users, devices, passwords, access and refresh tokens."""
