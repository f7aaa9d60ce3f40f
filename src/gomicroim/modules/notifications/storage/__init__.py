"""Notifications storage on the relational database: the push-token model and its store."""

from gomicroim.modules.notifications.storage.sql import PushToken, SqlPushTokenStore

__all__ = ["PushToken", "SqlPushTokenStore"]
