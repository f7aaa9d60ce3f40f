"""The chat module's public face: its facades, wire types and events.

Other modules import from here only; the parts live in this package's files.
"""

from gomicroim.modules.chat.contract.changes import (
    MessageChangesFacade as MessageChangesFacade,
)
from gomicroim.modules.chat.contract.changes import (
    MessageEdit as MessageEdit,
)
from gomicroim.modules.chat.contract.changes import (
    MessageHidden as MessageHidden,
)
from gomicroim.modules.chat.contract.core import (
    ChatFacade as ChatFacade,
)
from gomicroim.modules.chat.contract.core import (
    ClientMsgId as ClientMsgId,
)
from gomicroim.modules.chat.contract.core import (
    ConversationList as ConversationList,
)
from gomicroim.modules.chat.contract.core import (
    ConversationRead as ConversationRead,
)
from gomicroim.modules.chat.contract.core import (
    GroupAudience as GroupAudience,
)
from gomicroim.modules.chat.contract.core import (
    HistoryPage as HistoryPage,
)
from gomicroim.modules.chat.contract.core import (
    MessageChange as MessageChange,
)
from gomicroim.modules.chat.contract.core import (
    MessageCommitted as MessageCommitted,
)
from gomicroim.modules.chat.contract.core import (
    MessagePreview as MessagePreview,
)
from gomicroim.modules.chat.contract.core import (
    MessageRead as MessageRead,
)
from gomicroim.modules.chat.contract.core import (
    MessageSend as MessageSend,
)
from gomicroim.modules.chat.contract.core import (
    MsgType as MsgType,
)
from gomicroim.modules.chat.contract.core import (
    ReadPositionMoved as ReadPositionMoved,
)
from gomicroim.modules.chat.contract.core import (
    ReadRequest as ReadRequest,
)
from gomicroim.modules.chat.contract.core import (
    ReadResult as ReadResult,
)
from gomicroim.modules.chat.contract.core import (
    SendResult as SendResult,
)
from gomicroim.modules.chat.contract.core import (
    Seq as Seq,
)
from gomicroim.modules.chat.contract.core import (
    SessionType as SessionType,
)
from gomicroim.modules.chat.contract.receipts import (
    Reader as Reader,
)
from gomicroim.modules.chat.contract.receipts import (
    ReaderPage as ReaderPage,
)
from gomicroim.modules.chat.contract.receipts import (
    ReadReceiptsFacade as ReadReceiptsFacade,
)
from gomicroim.modules.chat.contract.settings import (
    ConversationSettings as ConversationSettings,
)
from gomicroim.modules.chat.contract.settings import (
    ConversationSettingsFacade as ConversationSettingsFacade,
)
from gomicroim.modules.chat.contract.settings import (
    MutedUntil as MutedUntil,
)
from gomicroim.modules.chat.contract.settings import (
    SettingsUpdate as SettingsUpdate,
)
