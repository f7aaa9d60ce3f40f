"""Strategy selection per recipient, plugins by config, and the two built-in strategies."""

from __future__ import annotations

import pytest

from gomicroim.config import ConfigError, FanoutSettings
from gomicroim.fanout.selector import StrategySelector, build_strategies
from gomicroim.fanout.strategy import Delivery, ReadFanout, WriteFanout
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.identity.contract import ClientType, DeviceRead
from gomicroim.modules.timeline.contract import SyncPage


class AppendLog:
    """Timeline double that hands out user seqs per user and records what was appended."""

    def __init__(self) -> None:
        self.appended: list[tuple[int, set[int]]] = []
        self._latest: dict[int, int] = {}

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        self.appended.append((message.seq, set(user_ids)))
        out = {}
        for user_id in user_ids:
            self._latest[user_id] = self._latest.get(user_id, 0) + 1
            out[user_id] = self._latest[user_id]
        return out

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        return [await self.append(message, users) for message, users in items]

    async def sync(self, user_id: int, after: int, limit: int | None = None) -> SyncPage:
        raise NotImplementedError

    async def latest_seq(self, user_id: int) -> int:
        return self._latest.get(user_id, 0)

    async def prune(self, older_than_ms: int) -> int:
        return 0


class Hybrid:
    """A plugin strategy, as a user would write one."""

    name = "hybrid"
    priority = 5

    def __init__(self, **_: object) -> None:
        pass

    async def deliver(self, batch: list[Delivery]) -> list[dict[int, int | None]]:
        return [dict.fromkeys(user_ids) for _, user_ids in batch]


def device(client_type: ClientType, user_id: int = 1) -> DeviceRead:
    return DeviceRead(
        user_id=user_id,
        device_id=f"{client_type}-{user_id}",
        client_type=client_type,
        platform=None,
        last_login_at=0,
    )


def message(seq: int = 1) -> MessageRead:
    return MessageRead(
        conversation_id="g:1",
        seq=seq,
        sender_id=1,
        to=1,
        session_type="group",
        client_msg_id=f"c{seq}",
        msg_type="text",
        body="hi",
        created_at=0,
    )


def selector(settings: FanoutSettings | None = None) -> StrategySelector:
    settings = settings or FanoutSettings()
    return StrategySelector(
        build_strategies(settings, AppendLog()),
        settings.client_strategies,
        write_max_group_size=settings.write_max_group_size,
    )


def test_app_and_desktop_users_get_write_fanout_web_only_users_get_read() -> None:
    choose = selector().choose
    assert choose([device("app")], None).name == "write"
    assert choose([device("desktop")], None).name == "write"
    assert choose([device("web")], None).name == "read"


def test_a_user_with_web_and_app_devices_gets_timeline_entries() -> None:
    assert selector().choose([device("web"), device("app")], None).name == "write"


def test_a_user_without_devices_gets_read_fanout() -> None:
    assert selector().choose([], 10).name == "read"


def test_groups_above_write_max_group_size_use_read_fanout_for_everyone() -> None:
    choose = selector(FanoutSettings(write_max_group_size=3)).choose
    assert choose([device("app")], 3).name == "write"
    assert choose([device("app")], 4).name == "read"


def test_client_strategies_map_is_config() -> None:
    choose = selector(FanoutSettings(client_strategies={"web": "write", "app": "read"})).choose
    assert choose([device("web")], None).name == "write"
    assert choose([device("app")], None).name == "read"


def test_a_plugin_strategy_is_loaded_by_import_path_and_selected_by_client_type() -> None:
    settings = FanoutSettings(
        plugins={"hybrid": f"{__name__}:Hybrid"},
        client_strategies={"app": "hybrid", "web": "read", "desktop": "write"},
    )
    choose = selector(settings).choose
    assert choose([device("app")], None).name == "hybrid"
    assert choose([device("app"), device("desktop")], None).name == "write"


def test_unknown_strategy_names_and_bad_plugins_fail_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"fanout\.client_strategies\.app"):
        build_strategies(FanoutSettings(client_strategies={"app": "nope"}), AppendLog())
    with pytest.raises(ConfigError, match=r"fanout\.plugins\.x"):
        build_strategies(FanoutSettings(plugins={"x": "no.such.module:Thing"}), AppendLog())


async def test_read_fanout_stores_nothing_and_returns_no_user_seq() -> None:
    assert await ReadFanout().deliver([(message(), {1, 2})]) == [{1: None, 2: None}]


async def test_write_fanout_appends_once_for_all_users_and_returns_their_user_seqs() -> None:
    timeline = AppendLog()
    strategy = WriteFanout(timeline=timeline)
    assert await strategy.deliver([(message(1), {1, 2}), (message(2), {2})]) == [
        {1: 1, 2: 1},
        {2: 2},
    ]
    assert await strategy.deliver([(message(3), {1})]) == [{1: 2}]
    assert timeline.appended == [(1, {1, 2}), (2, {2}), (3, {1})]
