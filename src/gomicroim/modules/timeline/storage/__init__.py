"""Timeline storage adapters: the SQL one (:mod:`.sql`) and the MongoDB one (:mod:`.mongo`).

The MongoDB adapter is imported on its own, so the embedded shape never loads its driver.
"""

from gomicroim.modules.timeline.storage.sql import SqlTimelineStore

__all__ = ["SqlTimelineStore"]
