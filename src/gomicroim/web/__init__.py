"""The web chat client: static ES modules and CSS served at ``/``, a client of the public API."""
