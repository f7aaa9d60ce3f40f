"""Offline push: device push tokens, and notifications to a webhook for offline recipients."""
