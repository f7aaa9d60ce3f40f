"""Typed settings: built-in defaults, a TOML file, then ``GOMICROIM__SECTION__KEY`` overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "GOMICROIM__"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]

#: The parts one process can run: the HTTP API (and the outbox relay), the WebSocket gateway,
#: and the fan-out worker (with timeline pruning).
Role = Literal["api", "gateway", "fanout"]
ALL_ROLES: tuple[Role, ...] = ("api", "gateway", "fanout")

#: The node id of a process that is the whole deployment (the embedded shape).
EMBEDDED_NODE_ID = "node-1"


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the HTTP/WebSocket listener binds, which roles this process runs, who it is."""

    host: str = "127.0.0.1"
    port: Port = 8080
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(ALL_ROLES)
    )
    #: Names this gateway in presence and push routing; empty is ``node-1`` outside a cluster.
    node_id: str = ""
    max_request_bytes: PositiveInt = 1_048_576
    #: A request head (request line and headers) above this is answered 431.
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 16384
    max_headers: PositiveInt = 100
    #: A request head must arrive within this of the connection (or the request) starting.
    header_timeout_s: Seconds = 10.0
    #: A request body must arrive within this of its head.
    body_timeout_s: Seconds = 30.0
    #: Idle keep-alive connections are closed after this.
    keepalive_timeout_s: Seconds = 5.0
    #: Peers whose ``X-Forwarded-For`` names the client (comma-separated addresses or
    #: networks, ``*`` for any): per-address limits count that address, not the proxy's.
    forwarded_allow_ips: str = "127.0.0.1"


class StorageSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Relational storage. ``database_url`` empty means SQLite under ``data_dir``."""

    data_dir: str = "./data"
    database_url: str = ""
    pool_min_size: PositiveInt = 1
    pool_max_size: PositiveInt = 10
    migrate_on_start: bool = True
    #: FULL: an acknowledged message survives a power cut. NORMAL: it survives a crash of the
    #: process (WAL), and a power cut may lose the last moments; faster on slow disks.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    #: How often readiness may write a row to prove the database still stores (a full or
    #: read-only disk still answers reads); between writes it reports the last outcome.
    write_probe_interval_s: Seconds = 5.0


class IdentitySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Token lifetimes and signing. An empty secret is generated once and kept in ``data_dir``."""

    jwt_secret: str = ""
    access_ttl_s: PositiveInt = 3600
    refresh_ttl_s: PositiveInt = 30 * 24 * 3600
    password_time_cost: PositiveInt = 2
    password_memory_kib: Annotated[int, msgspec.Meta(ge=8192)] = 19456
    device_cache_ttl_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    #: How long a process trusts its cached copy of a user's block list (asked on every
    #: single-chat send). Blocks and unblocks invalidate it at once on every process; this
    #: bounds staleness only when that broadcast was lost. 0 reads the database every time.
    block_cache_ttl_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    #: Registration refuses shorter passwords; the API's own floor is 8, its ceiling 128.
    min_password_chars: Annotated[int, msgspec.Meta(ge=8, le=128)] = 8
    #: ``iss`` and ``aud`` of access tokens: a token signed with the same key by or for
    #: something else is refused.
    token_issuer: Annotated[str, msgspec.Meta(min_length=1)] = "gomicroim"  # noqa: S105
    token_audience: Annotated[str, msgspec.Meta(min_length=1)] = "gomicroim"  # noqa: S105
    #: Password hashes computed at once (each takes ``password_memory_kib``), and how many
    #: more may wait; beyond that logins and registrations answer 503 ``server_busy``.
    max_concurrent_hashes: PositiveInt = 4
    max_waiting_hashes: Annotated[int, msgspec.Meta(ge=0)] = 256
    #: How often a process reloads sessions other processes ended (an admin command, another
    #: replica), so their tokens are refused and their sockets closed here too.
    revocation_poll_s: Seconds = 2.0


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Who may create an account.

    ``open``: anyone; ``closed``: nobody (accounts come from ``gomicroim users create``);
    ``invite``: holders of an invite code from ``gomicroim invites create``.
    """

    registration: Literal["open", "closed", "invite"] = "open"


class GroupSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Group limits."""

    max_members: PositiveInt = 2000
    max_name_chars: Annotated[int, msgspec.Meta(ge=1, le=255)] = 64
    max_notice_chars: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 2000
    max_avatar_url_chars: Annotated[int, msgspec.Meta(ge=1, le=2048)] = 2048
    #: Members per ``GET /groups/{id}/members`` page without a ``limit`` (at most 2000).
    members_page_limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 500
    member_cache_ttl_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    #: Whether a member added later reads the group's messages from before they joined.
    new_members_see_history: bool = False
    #: What a member who left or was removed may still read: ``none`` (nothing, as any
    #: non-member) or ``while_member`` (the messages of their past spells). Only used while
    #: ``new_members_see_history`` is false.
    former_member_history: Literal["none", "while_member"] = "none"


class ChatSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Message limits."""

    max_body_bytes: PositiveInt = 65536
    max_page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    default_page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50
    #: Sends waiting for the group commit at most; beyond it a send answers 503 ``server_busy``.
    max_pending_sends: PositiveInt = 10000
    #: Conversations per list page without a ``limit``, and the largest ``limit`` allowed.
    conversations_page_limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    conversations_max_limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    #: Readers per ``GET .../messages/{seq}/readers`` page without a ``limit``, and the
    #: largest ``limit`` allowed.
    readers_page_limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 50
    readers_max_limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 200
    #: Characters (code points) of a last message's body the conversation list shows.
    preview_chars: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 200
    #: How long after sending the sender may recall a message.
    recall_window_s: Seconds = 120
    #: How long after sending the sender may edit a message.
    edit_window_s: Seconds = 900
    #: At most one relayed ``typing`` frame per user and conversation in this interval.
    typing_interval_s: Seconds = 3
    #: Who may send a single-chat message to whom: ``anyone`` (any registered user), or
    #: ``shared_group`` (only users who are members of one undissolved group together;
    #: also for conversations that already exist). Blocks apply under both.
    single_chat_policy: Literal["anyone", "shared_group"] = "anyone"


class TimelineSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The write fan-out inbox: in the relational database (``sql``) or in MongoDB."""

    backend: Literal["sql", "mongo"] = "sql"
    retention_days: Annotated[float, msgspec.Meta(gt=0)] = 30
    prune_interval_s: Seconds = 3600
    max_sync_page: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    default_sync_page: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    #: SQLite only. False: an append commits without its own fsync and is made durable by the
    #: next send's (WAL frames reach the disk in order); after a power cut the appends since
    #: that sync are rebuilt from the outbox. True: every append waits for its own fsync.
    sync_each_append: bool = False


class FanoutSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How committed messages reach recipients.

    ``client_strategies`` maps a device's client type to a strategy name; ``plugins`` adds
    strategies by import path (``"package.module:ClassName"``) next to the built-in ``read`` and
    ``write``.
    """

    client_strategies: dict[str, str] = msgspec.field(
        default_factory=lambda: {"app": "write", "desktop": "write", "web": "read"}
    )
    write_max_group_size: PositiveInt = 2000
    plugins: dict[str, str] = msgspec.field(default_factory=dict)
    relay_batch_size: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 500
    relay_buffer_size: Annotated[int, msgspec.Meta(ge=1)] = 10000
    outbox_retention_s: Seconds = 3600
    outbox_stale_s: Seconds = 5


class PushSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The offline-push webhook: notifications for recipients with no live connection.

    ``webhook_url`` empty turns the feature off (nothing is queued); set, it needs a
    ``webhook_secret`` to sign each POST with.
    """

    webhook_url: str = ""
    webhook_secret: str = ""
    #: Off: notifications carry no ``body_preview`` (the push service never sees message text).
    include_body: bool = True
    body_preview_chars: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    #: How long the first queued notification waits for a batch to fill.
    flush_interval_ms: Annotated[int, msgspec.Meta(ge=1)] = 200
    #: Notifications waiting to be posted; when full the oldest is dropped.
    queue_size: PositiveInt = 10000
    #: Tries per batch (5xx, 429, timeouts, connection errors) before it is counted failed.
    max_attempts: PositiveInt = 5
    #: The pause before the first retry; it doubles per retry.
    retry_backoff_ms: Annotated[int, msgspec.Meta(ge=1)] = 500
    max_backoff_ms: Annotated[int, msgspec.Meta(ge=1)] = 30000
    #: A notification not posted this long after its message was committed is dropped.
    deadline_s: Seconds = 300
    #: One POST's timeout.
    timeout_s: Seconds = 10


class GatewaySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """WebSocket connections."""

    max_frame_bytes: PositiveInt = 65536
    idle_timeout_s: Seconds = 120
    max_pending_bytes: PositiveInt = 1_048_576
    shutdown_grace_s: Seconds = 5
    #: A push batch older than this when a gateway reads it from Kafka is dropped (the
    #: devices pull); it bounds replays of old batches after a consumer restart.
    max_push_age_s: Seconds = 30
    #: Client frames per second per socket (token bucket of ``frame_burst``); 0 disables.
    max_frames_per_second: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    frame_burst: PositiveInt = 60
    #: Devices of one user connected at once (0: no limit).
    max_connections_per_user: Annotated[int, msgspec.Meta(ge=0)] = 16
    #: Sockets from one client address at once (0: no limit).
    max_connections_per_ip: Annotated[int, msgspec.Meta(ge=0)] = 1024
    #: With Redis, a node's sockets count towards the caps under leases it renews every third
    #: of this; the sockets of a node that died stop counting this long after its last renewal.
    connection_lease_s: Annotated[float, msgspec.Meta(ge=3)] = 30.0
    #: Accept permessage-deflate when a client offers it (browsers do). Off by default: every
    #: compressed socket keeps its own zlib state (about 15 KB more per socket) and deflates
    #: each frame for itself, where an uncompressed frame is the same bytes for every socket;
    #: chat frames are small, so the bandwidth saved is small too.
    per_message_deflate: bool = False


class PresenceSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Online state: ``GET /api/v1/presence`` and the ``subscribe_presence`` frame."""

    #: User ids one socket may follow with ``subscribe_presence``; more: ``error``
    #: ``too_many_subscriptions`` (the previous set stays).
    max_subscriptions: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 200


class LimitSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Abuse limits, each answered 429 ``rate_limited`` with ``Retry-After``; 0 disables one.

    A rate with a burst is a sliding window of ``burst`` over ``burst / rate`` seconds; the
    others count over their own window.
    """

    #: Every authenticated request, per user.
    requests_per_second: NonNegative = 50.0
    burst: PositiveInt = 100
    #: ``POST /messages``, per user.
    messages_per_second: NonNegative = 10.0
    message_burst: PositiveInt = 30
    #: Wrong passwords for one username from one address, per ``login_window_s``.
    login_failures_per_ip_user: Count = 10
    #: Wrong passwords for one username from anywhere, per ``login_window_s``: the ceiling
    #: for guessing spread over many addresses. Over it the account refuses every login until
    #: the window slides, so it is kept well above the per-address limit.
    login_failures_per_user: Count = 100
    #: Login attempts (right or wrong) from one address, per ``login_window_s``.
    login_attempts_per_ip: Count = 300
    login_window_s: PositiveInt = 900
    #: Registration attempts from one address, per ``registration_window_s``.
    registrations_per_ip: Count = 20
    registration_window_s: PositiveInt = 3600
    #: Token refreshes from one address, per ``refresh_window_s``.
    refreshes_per_ip: Count = 300
    refresh_window_s: PositiveInt = 60
    #: Counters the in-process limiter keeps at most (the oldest are forgotten beyond it).
    max_tracked_keys: PositiveInt = 1_000_000


class RedisSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Shared state of a cluster; ``url`` empty keeps it in process.

    With a URL, presence, revoked sessions and cache invalidation go through Redis.
    """

    url: str = ""
    key_prefix: str = "gomicroim:"
    #: Connect and command timeout: a request that needs a Redis that is down gets 503 after
    #: at most about twice this.
    timeout_s: Seconds = 1.0
    max_connections: PositiveInt = 64
    #: How often the process checks that Redis answers and still has its data.
    check_interval_s: Seconds = 1.0
    #: A gateway's presence lease: a node that dies without cleaning up stops counting as
    #: online this long after its last renewal (renewed every third of it).
    presence_lease_s: Annotated[float, msgspec.Meta(ge=1)] = 15.0


class KafkaSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The bus of a cluster. ``bootstrap_servers`` empty: the bus is in-process queues.

    Topic names are ``topic_prefix`` + ``committed``, ``read``, ``push`` and ``dead-letter``.
    ``node_partitions`` gives each gateway node its partitions of the push topic; the checks
    of these values live with the topology in :mod:`gomicroim.infra.kafka.topology`.
    """

    bootstrap_servers: str = ""
    topic_prefix: str = "gomicroim."
    committed_partitions: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 12
    read_partitions: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 4
    push_partitions: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    replication_factor: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    node_partitions: dict[str, list[Annotated[int, msgspec.Meta(ge=0)]]] = msgspec.field(
        default_factory=dict
    )
    consumer_group: str = "gomicroim-fanout"
    session_timeout_ms: Annotated[int, msgspec.Meta(ge=1000)] = 10000
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=100)] = 3000
    #: The longest a consumer's fetch waits for records. Kafka answers as soon as one
    #: arrives; tansu 0.6 waits the whole time, so on tansu it is a floor on push latency.
    fetch_max_wait_ms: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 500
    request_timeout_ms: Annotated[int, msgspec.Meta(ge=500)] = 5000
    handle_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    retry_backoff_s: Seconds = 0.5
    max_retry_backoff_s: Seconds = 10
    topic_check_interval_s: Seconds = 2
    resend_window_s: Annotated[float, msgspec.Meta(ge=0)] = 300


class MongoSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """MongoDB for ``timeline.backend = "mongo"``."""

    url: str = ""
    database: str = "gomicroim"
    #: How long an operation waits for a usable server (or primary) before it fails with 503.
    timeout_s: Seconds = 2.0


class LogSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Logging: ``json`` writes one JSON object per line, ``text`` is for humans."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"
    access_log: bool = True


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """All settings of one gomicroim process."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    identity: IdentitySettings = msgspec.field(default_factory=IdentitySettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    groups: GroupSettings = msgspec.field(default_factory=GroupSettings)
    chat: ChatSettings = msgspec.field(default_factory=ChatSettings)
    timeline: TimelineSettings = msgspec.field(default_factory=TimelineSettings)
    fanout: FanoutSettings = msgspec.field(default_factory=FanoutSettings)
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    presence: PresenceSettings = msgspec.field(default_factory=PresenceSettings)
    push: PushSettings = msgspec.field(default_factory=PushSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    mongo: MongoSettings = msgspec.field(default_factory=MongoSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)

    @property
    def data_path(self) -> Path:
        """The data directory as a path."""
        return Path(self.storage.data_dir)

    @property
    def embedded(self) -> bool:
        """True when running on SQLite with in-process adapters."""
        return not self.storage.database_url or self.storage.database_url.startswith("sqlite")

    # Adapter choice. Containers select on these keys (``providers.Selector``); nothing else
    # in the code asks which backend or role is in force.

    @property
    def clustered(self) -> bool:
        """True when other processes share this one's bus or state (Kafka or Redis is set)."""
        return bool(self.kafka.bootstrap_servers or self.redis.url)

    @property
    def node_id(self) -> str:
        """This node's id: ``server.node_id``, or ``node-1`` when it was left empty."""
        return self.server.node_id or EMBEDDED_NODE_ID

    @property
    def bus_backend(self) -> Literal["memory", "kafka"]:
        """Where committed-message and read events travel: in-process queues or Kafka."""
        return "kafka" if self.kafka.bootstrap_servers else "memory"

    @property
    def shared_state_backend(self) -> Literal["memory", "redis"]:
        """Where presence and revoked sessions live: this process's memory or Redis."""
        return "redis" if self.redis.url else "memory"

    @property
    def push_route(self) -> Literal["local", "kafka"]:
        """How pushes reach gateways: straight to this process's own, or over Kafka."""
        if "gateway" in self.server.roles and self.bus_backend == "memory":
            return "local"
        return "kafka"


class ConfigError(Exception):
    """A settings source is unreadable or a value is not allowed."""


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    Args:
        path: a TOML file; ``None`` uses only built-in defaults.
        env: environment to read ``GOMICROIM__SECTION__KEY`` values from (default ``os.environ``).
        overrides: nested mapping applied last, e.g. ``{"server": {"port": 0}}``.

    Raises:
        ConfigError: naming the file or the key and what it allows.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(Path(path))
    _merge(raw, _env_overrides(os.environ if env is None else env))
    if overrides:
        _merge(raw, dict(overrides))
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {_explain(exc)}") from exc
    _check_roles(settings.server.roles)
    return settings


def check_shape(settings: Settings) -> None:
    """Refuse, at start, a combination of roles and backends that cannot work.

    Raises:
        ConfigError: one line naming the setting to change.
    """
    roles = settings.server.roles
    split = set(roles) != set(ALL_ROLES)
    shown = msgspec.json.encode(roles).decode()
    if split and not settings.kafka.bootstrap_servers:
        raise ConfigError(
            f"server.roles = {shown} runs part of the server, and the parts talk over a bus: "
            "set kafka.bootstrap_servers, or run all three roles in one process"
        )
    if split and not settings.redis.url:
        raise ConfigError(
            f"server.roles = {shown} runs part of the server, and the parts share presence and "
            "revoked sessions: set redis.url, or run all three roles in one process"
        )
    if settings.timeline.backend == "mongo" and not settings.mongo.url:
        raise ConfigError(
            'timeline.backend = "mongo" needs a server: set mongo.url '
            '(mongodb://host:27017), or use timeline.backend = "sql"'
        )
    if settings.clustered and not settings.server.node_id:
        # A gateway is addressed by it (presence, push partitions); the API's outbox relay
        # claims rows under it, so two processes sharing one would take each other's.
        raise ConfigError(
            f"server.roles = {shown} in a cluster needs a node id: set server.node_id "
            "(or pass --node-id) to a name no other process of the cluster uses"
        )
    _check_push(settings.push)
    if settings.bus_backend == "kafka":
        # Imported here: the topology module builds on these settings types.
        from gomicroim.infra.kafka.topology import check_kafka

        check_kafka(settings)


def _check_push(push: PushSettings) -> None:
    if not push.webhook_url:
        return
    if not push.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"push.webhook_url = {push.webhook_url!r} is not an http:// or https:// URL"
        )
    if not push.webhook_secret:
        # An unsigned webhook lets anyone who can reach the receiver forge notifications.
        raise ConfigError("push.webhook_url is set: set push.webhook_secret to sign its POSTs")


def _check_roles(roles: list[Role]) -> None:
    twice = sorted({role for role in roles if roles.count(role) > 1})
    if twice:
        raise ConfigError(
            f"invalid setting: server.roles: {', '.join(twice)} listed more than once; "
            "name each role once"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist; pass an existing --config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if len(keys) < 2:
            continue
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _env_value(value)
    return out


def _env_value(value: str) -> Any:
    # Lists are written as JSON arrays (`["api","gateway"]`); scalars convert leniently later.
    if value.lstrip().startswith("["):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"environment value {value!r} is not a JSON array: {exc}") from exc
    return value


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _explain(exc: msgspec.ValidationError) -> str:
    # msgspec says "... - at `$.server.port`"; turn the path into the TOML key people write.
    text = str(exc)
    message, sep, where = text.rpartition(" - at ")
    if not sep:
        return text
    key = where.strip("`").removeprefix("$.").removeprefix("$")
    allowed = _allowed_values(key)
    if allowed is not None and message.startswith("Invalid enum value"):
        message = f"{message}; allowed: {', '.join(map(str, allowed))}"
    return f"{key}: {message}" if key else message


def _allowed_values(key: str) -> tuple[object, ...] | None:
    """The values a ``Literal`` setting allows, found by walking ``key`` through the types."""
    node: msgspec.inspect.Type = msgspec.inspect.type_info(Settings)
    for part in key.replace("[", ".[").split("."):
        if isinstance(node, msgspec.inspect.ListType) and part.startswith("["):
            node = node.item_type
        elif isinstance(node, msgspec.inspect.StructType):
            found = [f.type for f in node.fields if f.name == part]
            if not found:
                return None
            node = found[0]
        else:
            return None
    return node.values if isinstance(node, msgspec.inspect.LiteralType) else None
