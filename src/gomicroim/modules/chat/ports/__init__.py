"""What the chat service needs: its stores and the other modules' answers (ports).

The parts live in this package's files; import them from here.
"""

from gomicroim.modules.chat.ports.changes import (
    HiddenMessages as HiddenMessages,
)
from gomicroim.modules.chat.ports.changes import (
    MessageChangeStore as MessageChangeStore,
)
from gomicroim.modules.chat.ports.changes import (
    OwnTimeline as OwnTimeline,
)
from gomicroim.modules.chat.ports.core import (
    Blocks as Blocks,
)
from gomicroim.modules.chat.ports.core import (
    ChatStore as ChatStore,
)
from gomicroim.modules.chat.ports.core import (
    CommitListener as CommitListener,
)
from gomicroim.modules.chat.ports.core import (
    CommittedPublisher as CommittedPublisher,
)
from gomicroim.modules.chat.ports.core import (
    ConversationSettingsStore as ConversationSettingsStore,
)
from gomicroim.modules.chat.ports.core import (
    Directory as Directory,
)
from gomicroim.modules.chat.ports.core import (
    DuplicateMessage as DuplicateMessage,
)
from gomicroim.modules.chat.ports.core import (
    EntryRow as EntryRow,
)
from gomicroim.modules.chat.ports.core import (
    ListPosition as ListPosition,
)
from gomicroim.modules.chat.ports.core import (
    MessageDraft as MessageDraft,
)
from gomicroim.modules.chat.ports.core import (
    OutboxRecord as OutboxRecord,
)
from gomicroim.modules.chat.ports.core import (
    OutboxStore as OutboxStore,
)
from gomicroim.modules.chat.ports.core import (
    ReadEventPublisher as ReadEventPublisher,
)
from gomicroim.modules.chat.ports.core import (
    ReadPosition as ReadPosition,
)
from gomicroim.modules.chat.ports.core import (
    RelayMetrics as RelayMetrics,
)
from gomicroim.modules.chat.ports.core import (
    SendMetrics as SendMetrics,
)
from gomicroim.modules.chat.ports.core import (
    SettingsChange as SettingsChange,
)
from gomicroim.modules.chat.ports.core import (
    VisibilityStore as VisibilityStore,
)
from gomicroim.modules.chat.ports.readers import (
    ReadCounts as ReadCounts,
)
from gomicroim.modules.chat.ports.readers import (
    ReaderPosition as ReaderPosition,
)
from gomicroim.modules.chat.ports.readers import (
    ReaderStore as ReaderStore,
)
