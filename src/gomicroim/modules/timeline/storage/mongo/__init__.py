"""The timeline on MongoDB (beanie documents, pymongo's async client): ``MongoTimelineStore``."""

from gomicroim.modules.timeline.storage.mongo.documents import timeline_models
from gomicroim.modules.timeline.storage.mongo.layer import PymongoCollections, TimelineCollections
from gomicroim.modules.timeline.storage.mongo.store import MongoTimelineStore

__all__ = ["MongoTimelineStore", "PymongoCollections", "TimelineCollections", "timeline_models"]
