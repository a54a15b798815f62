"""One settings object, read from the environment (``SHAREGRAPH_*``) when the process starts."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SQLITE_PATH = Path("var") / "sharegraph.db"
# JWT algorithms accepted by default: HS256 with the shared secret, the asymmetric ones with the
# JWKS keys they fit (RSA: RS*/PS*, EC: ES* by curve, OKP: EdDSA). `none` is never accepted.
DEFAULT_JWT_ALGORITHMS = (
    "HS256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
    "EdDSA",
)  # fmt: skip


def default_database_url() -> str:
    return os.environ.get("SHAREGRAPH_DATABASE_URL") or f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if math.isnan(value):  # compares false with everything: a limit that never applies
        raise SystemExit(f"{name} must be a number, got {raw!r}")
    return value


def _env_seconds(name: str, default: float) -> float:
    """A duration that must be positive: 0 is not "no limit" where a timer runs on it."""
    value = _env_float(name, default)
    if not value > 0:  # NaN too
        raise SystemExit(f"{name} must be a positive number of seconds, got {os.environ[name]!r}")
    return value


def _env_origins(name: str) -> tuple[str, ...]:
    """Comma-separated web origins (``https://pantry.example.org``, ``http://localhost:3000``),
    or ``*`` for any; a path, query or trailing slash is refused (browsers never send one)."""
    found = []
    for raw in (os.environ.get(name) or "").split(","):
        origin = raw.strip()
        if not origin:
            continue
        if origin != "*":
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or origin != (f"{parts.scheme}://{parts.netloc}")
            ):
                raise SystemExit(
                    f"{name}: {origin!r} is not an origin; write scheme://host[:port] without a "
                    "path or trailing slash, or *"
                )
        found.append(origin)
    return tuple(found)


@dataclass(frozen=True)
class Limits:
    """Protection against expensive operations; defaults fit real dashboards."""

    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_cost: int = 50_000
    # Fields of one operation or fragment, fragments expanded: bounds the work of validating it.
    max_fields: int = 2_000
    max_page_size: int = 100
    default_page_size: int = 20
    plain_list_cost: int = 10
    request_timeout_seconds: float = 30.0
    # Request size: any input list (ids, `_entities` representations, ...), the HTTP body
    # (5 MiB holds 40,000 representations, so a big batch meets the clearer list cap first),
    # and JSON nesting, refused before json.loads recurses. An `ids` filter is one SQL `IN`
    # list: keep max_list_items far below the 32,767 parameters a statement may bind.
    max_list_items: int = 1_000
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    # HTTP requests one process serves at once (each may hold a body of max_body_bytes): past
    # it, 503 SERVICE_UNAVAILABLE / SERVER_BUSY. Open connections (keep-alive and WebSocket
    # subscriptions) are bounded apart, by max_connections (`sharegraph serve`: uvicorn's
    # limit_concurrency), so thousands of idle subscribers do not turn queries away.
    max_requests_in_flight: int = 100
    max_connections: int = 10_000
    # Longest wait for a client to send the next part of its body, or to take the next part
    # of its answer: a client that stalls gives its in-flight slot back (408 / closed).
    client_io_timeout_seconds: float = 30.0
    # Longest wait for a whole request head (`sharegraph serve`), from the connection's opening
    # or the end of the previous answer: past it, 408 / closed (cli/request_heads.py).
    request_head_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    """Outgoing mail (contact records sent as PDFs). Unset host: sending is refused."""

    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465) instead of STARTTLS
    from_address: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> SmtpSettings:
        return cls(
            host=os.environ.get("SHAREGRAPH_SMTP_HOST") or None,
            port=_env_int("SHAREGRAPH_SMTP_PORT", cls.port),
            user=os.environ.get("SHAREGRAPH_SMTP_USER") or None,
            password=os.environ.get("SHAREGRAPH_SMTP_PASSWORD") or None,
            starttls=_env_bool("SHAREGRAPH_SMTP_STARTTLS", cls.starttls),
            ssl=_env_bool("SHAREGRAPH_SMTP_SSL", cls.ssl),
            from_address=os.environ.get("SHAREGRAPH_SMTP_FROM") or None,
            timeout_seconds=_env_float("SHAREGRAPH_SMTP_TIMEOUT", cls.timeout_seconds),
        )


@dataclass(frozen=True)
class SignInSettings:
    """Sign-in for people (the portal): sessions, lockout and the links sent by e-mail."""

    # Where people reach this server; the start of the links in invitation and reset e-mails.
    public_url: str = "http://localhost:8000"
    session_ttl_seconds: float = 12 * 3600.0
    # Wrong passwords in a row before the account is locked for lockout_seconds.
    max_failed_attempts: int = 5
    lockout_seconds: float = 15 * 60.0
    # Sign-in and reset attempts per client address per minute (this process), before lockout.
    attempts_per_minute_per_ip: int = 20
    invitation_ttl_seconds: float = 7 * 24 * 3600.0
    reset_ttl_seconds: float = 3600.0

    @classmethod
    def from_env(cls) -> SignInSettings:
        return cls(
            public_url=(os.environ.get("SHAREGRAPH_PUBLIC_URL") or cls.public_url).rstrip("/"),
            session_ttl_seconds=_env_float("SHAREGRAPH_SESSION_TTL", cls.session_ttl_seconds),
            max_failed_attempts=_env_int("SHAREGRAPH_SIGNIN_MAX_FAILURES", cls.max_failed_attempts),
            lockout_seconds=_env_float("SHAREGRAPH_SIGNIN_LOCKOUT", cls.lockout_seconds),
            attempts_per_minute_per_ip=_env_int(
                "SHAREGRAPH_SIGNIN_PER_MINUTE", cls.attempts_per_minute_per_ip
            ),
            invitation_ttl_seconds=_env_float(
                "SHAREGRAPH_INVITATION_TTL", cls.invitation_ttl_seconds
            ),
            reset_ttl_seconds=_env_float("SHAREGRAPH_RESET_TTL", cls.reset_ttl_seconds),
        )


@dataclass(frozen=True)
class ExchangeSettings:
    """Export jobs (files under ``export_dir``, kept ``export_ttl_seconds``) and scheduled
    deliveries (directories only inside ``delivery_root``; stored SFTP secrets encrypted with
    ``secret_key``, a Fernet key or several comma-separated, the first encrypting)."""

    export_dir: Path = Path("var") / "exports"
    export_ttl_seconds: float = 24 * 3600.0
    delivery_root: Path | None = None
    # SFTP servers on loopback or private networks are refused unless this is on (tests, or an
    # operator whose partners' servers sit on an internal network).
    allow_private_hosts: bool = False
    secret_key: str | None = field(default=None, repr=False)
    # How long a worker holds an export or delivery before another may take it over.
    lease_seconds: float = 1800.0
    sftp_timeout_seconds: float = 30.0
    # Directory files uploaded through ``POST /imports`` wait under ``import_dir`` until the
    # scheduler has imported them; a larger upload is refused while it streams in (the request
    # body limit, ``Limits.max_body_bytes``, applies first).
    import_dir: Path = Path("var") / "imports"
    import_max_bytes: int = 5 * 1024 * 1024

    @classmethod
    def from_env(cls) -> ExchangeSettings:
        root = os.environ.get("SHAREGRAPH_DELIVERY_ROOT")
        return cls(
            export_dir=Path(os.environ.get("SHAREGRAPH_EXPORT_DIR") or cls.export_dir),
            export_ttl_seconds=_env_float("SHAREGRAPH_EXPORT_TTL_HOURS", 24.0) * 3600.0,
            delivery_root=Path(root) if root else None,
            allow_private_hosts=_env_bool("SHAREGRAPH_DELIVERY_ALLOW_PRIVATE_HOSTS", False),
            secret_key=os.environ.get("SHAREGRAPH_SECRET_KEY") or None,
            lease_seconds=_env_float("SHAREGRAPH_EXPORT_LEASE_SECONDS", cls.lease_seconds),
            sftp_timeout_seconds=_env_float("SHAREGRAPH_SFTP_TIMEOUT", cls.sftp_timeout_seconds),
            import_dir=Path(os.environ.get("SHAREGRAPH_IMPORT_DIR") or cls.import_dir),
            import_max_bytes=_env_int("SHAREGRAPH_IMPORT_MAX_BYTES", cls.import_max_bytes),
        )


@dataclass(frozen=True)
class FairnessSettings:
    """Per-principal limits, so one caller's script cannot starve the others (``graph.fairness``).

    Kept in memory per process: with N processes a principal gets N times these. 0 turns a limit
    off; :meth:`unlimited` turns them all off.
    """

    max_concurrent_per_principal: int = 2
    # Anonymous HSDS callers are told apart only by their address (behind a proxy on another
    # host, uvicorn's FORWARDED_ALLOW_IPS must name it for the address to be the client's).
    max_concurrent_per_client_ip: int = 2
    # A request over the cap waits this long for a slot (first come, first served) before 429.
    concurrency_wait_seconds: float = 1.0
    max_waiting_per_principal: int = 16
    cost_per_minute_per_principal: int = 1_000_000
    # A principal's operations estimated at this cost or more run one at a time.
    expensive_cost: int = 1_000

    @classmethod
    def unlimited(cls) -> FairnessSettings:
        return cls(0, 0, 0.0, 0, 0, 0)

    @classmethod
    def from_env(cls) -> FairnessSettings:
        return cls(
            max_concurrent_per_principal=_env_int(
                "SHAREGRAPH_MAX_CONCURRENT_PER_PRINCIPAL", cls.max_concurrent_per_principal
            ),
            max_concurrent_per_client_ip=_env_int(
                "SHAREGRAPH_MAX_CONCURRENT_PER_CLIENT_IP", cls.max_concurrent_per_client_ip
            ),
            concurrency_wait_seconds=_env_float(
                "SHAREGRAPH_CONCURRENCY_WAIT", cls.concurrency_wait_seconds
            ),
            max_waiting_per_principal=_env_int(
                "SHAREGRAPH_MAX_WAITING_PER_PRINCIPAL", cls.max_waiting_per_principal
            ),
            cost_per_minute_per_principal=_env_int(
                "SHAREGRAPH_COST_PER_MINUTE", cls.cost_per_minute_per_principal
            ),
            expensive_cost=_env_int("SHAREGRAPH_EXPENSIVE_COST", cls.expensive_cost),
        )


@dataclass(frozen=True)
class SubscriptionSettings:
    """Limits of live updates (see README "Live updates")."""

    max_per_connection: int = 20
    max_per_principal: int = 200
    # Messages a connection may have unsent before it is closed (1013; the client resumes).
    queue_size: int = 1_000
    keepalive_seconds: float = 15.0
    connection_init_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> SubscriptionSettings:
        return cls(
            max_per_connection=_env_int(
                "SHAREGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION", cls.max_per_connection
            ),
            max_per_principal=_env_int(
                "SHAREGRAPH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL", cls.max_per_principal
            ),
            queue_size=_env_int("SHAREGRAPH_SUBSCRIPTION_QUEUE", cls.queue_size),
            keepalive_seconds=_env_float(
                "SHAREGRAPH_SUBSCRIPTION_KEEPALIVE", cls.keepalive_seconds
            ),
            connection_init_timeout_seconds=_env_float(
                "SHAREGRAPH_CONNECTION_INIT_TIMEOUT", cls.connection_init_timeout_seconds
            ),
        )


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook delivery (see README "Webhooks")."""

    # Off in production: loopback, private, link-local and metadata addresses are refused.
    allow_private_addresses: bool = False
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    concurrency_per_endpoint: int = 4
    # Requests in flight at once in one process, over all endpoints.
    concurrency_total: int = 64
    # Consecutive failed attempts that open an endpoint's circuit, and for how long.
    circuit_failures: int = 5
    circuit_open_seconds: float = 60.0
    # Rotation: how long the previous secret keeps signing.
    rotation_overlap_seconds: float = 86_400.0

    @classmethod
    def from_env(cls) -> WebhookSettings:
        return cls(
            allow_private_addresses=_env_bool("SHAREGRAPH_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False),
            connect_timeout_seconds=_env_float(
                "SHAREGRAPH_WEBHOOK_CONNECT_TIMEOUT", cls.connect_timeout_seconds
            ),
            read_timeout_seconds=_env_float(
                "SHAREGRAPH_WEBHOOK_READ_TIMEOUT", cls.read_timeout_seconds
            ),
            concurrency_per_endpoint=_env_int(
                "SHAREGRAPH_WEBHOOK_CONCURRENCY", cls.concurrency_per_endpoint
            ),
            concurrency_total=_env_int(
                "SHAREGRAPH_WEBHOOK_CONCURRENCY_TOTAL", cls.concurrency_total
            ),
            circuit_failures=_env_int("SHAREGRAPH_WEBHOOK_CIRCUIT_FAILURES", cls.circuit_failures),
            circuit_open_seconds=_env_float(
                "SHAREGRAPH_WEBHOOK_CIRCUIT_OPEN", cls.circuit_open_seconds
            ),
            rotation_overlap_seconds=_env_float(
                "SHAREGRAPH_WEBHOOK_ROTATION_OVERLAP", cls.rotation_overlap_seconds
            ),
        )


REPLICATION_WHAT = ("contact-records", "resources", "all")


@dataclass(frozen=True)
class ReplicationTarget:
    """One configured replication job: keep ``url`` filled with what ``principal`` (name or
    id) may read. The URL may hold a password: never shown (``repr``), logged or reported
    whole (the replication code shows it with the password hidden)."""

    url: str = field(repr=False)
    principal: str
    what: str = "contact-records"  # contact-records | resources | all


@dataclass(frozen=True)
class ReplicationSettings:
    """Replication jobs run by the scheduler (``serve`` and ``sharegraph worker``; README
    "Replication"). Each pass of the ``replication`` kind brings every target up to date, one
    runner per target across processes; a first copy runs at most ``pass_seconds`` per pass
    and continues from its page checkpoint at the next one."""

    targets: tuple[ReplicationTarget, ...] = ()
    pass_seconds: float = 30.0
    page_size: int = 1000

    @classmethod
    def from_env(cls) -> ReplicationSettings:
        return cls(
            targets=_replication_targets("SHAREGRAPH_REPLICATION_TARGETS"),
            pass_seconds=_env_float("SHAREGRAPH_REPLICATION_PASS_SECONDS", cls.pass_seconds),
            page_size=_env_int("SHAREGRAPH_REPLICATION_PAGE_SIZE", cls.page_size),
        )


def _replication_targets(name: str) -> tuple[ReplicationTarget, ...]:
    """A JSON list of ``{"to": URL, "as": principal, "what": ...}``, inline or (a value not
    starting with ``[``) the path of a file holding it, so passwords can stay in a file only
    the service account reads. Errors never echo the value (it holds passwords)."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return ()
    if not raw.startswith("["):
        try:
            raw = Path(raw).read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"{name}: cannot read the file it names ({exc.strerror})") from exc
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{name}: not a JSON list ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(entries, list):
        raise SystemExit(f"{name}: write a JSON list of targets")
    found = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict) or not {"to", "as"} <= set(entry):
            raise SystemExit(f'{where}: each target is an object with "to" and "as"')
        unknown = set(entry) - {"to", "as", "what"}
        if unknown:
            raise SystemExit(f"{where}: unknown keys {sorted(unknown)}; known: to, as, what")
        what = entry.get("what", "contact-records")
        if what not in REPLICATION_WHAT:
            raise SystemExit(f'{where}: "what" is one of {", ".join(REPLICATION_WHAT)}')
        if not isinstance(entry["to"], str) or not isinstance(entry["as"], str):
            raise SystemExit(f'{where}: "to" and "as" are strings')
        found.append(ReplicationTarget(entry["to"], entry["as"], what))
    return tuple(found)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    graphiql: bool = False
    introspection: bool = True
    limits: Limits = field(default_factory=Limits)
    jwt_hs256_secret: str | None = None
    jwt_jwks_file: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_algorithms: tuple[str, ...] = DEFAULT_JWT_ALGORITHMS
    # Demo API keys are HMACs of the principal's name under this secret, so they can be
    # printed again; they are accepted only by a database marked as demo.
    demo_secret: str = "sharegraph-demo-secret"
    echo_sql: bool = False
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    signin: SignInSettings = field(default_factory=SignInSettings)
    # The scheduler of due work inside `serve`: on when configured from the environment
    # (SHAREGRAPH_SCHEDULER, default on), off for apps built in code unless asked for.
    scheduler: bool = False
    scheduler_poll_seconds: float = 5.0
    # How often the scheduler seals the audit trail; 0 leaves sealing to `sharegraph audit seal`.
    audit_seal_interval_seconds: float = 300.0
    # How long outbox events are kept: a subscription may resume (`after:`) within it; the
    # scheduler prunes older ones.
    event_retention_days: float = 7.0
    # Live updates (GraphQL subscriptions over graphql-transport-ws on /graphql).
    subscriptions: SubscriptionSettings = field(default_factory=lambda: SubscriptionSettings())
    # Per-principal limits: on when configured from the environment, off for apps built in code
    # unless asked for (like the scheduler).
    fairness: FairnessSettings = field(default_factory=FairnessSettings.unlimited)
    # Web origins whose pages may call /graphql and /hsds/ from a browser (CORS); empty: none.
    cors_origins: tuple[str, ...] = ()
    # Covered read root fields answered by one JSON-building SQL statement each
    # (graph/compiled/); off (SHAREGRAPH_COMPILED_READS=false): every field resolves through
    # the resolvers.
    compiled_reads: bool = True
    # How long a process answers a repeated API key or JWT subject without asking the database
    # (authz/credential_cache.py); 0 turns it off.
    credential_cache_seconds: float = 30.0
    webhooks: WebhookSettings = field(default_factory=lambda: WebhookSettings())
    # Replication jobs the scheduler runs (none unless configured).
    replication: ReplicationSettings = field(default_factory=lambda: ReplicationSettings())

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        limits = Limits(
            max_depth=_env_int("SHAREGRAPH_MAX_DEPTH", Limits.max_depth),
            max_aliases=_env_int("SHAREGRAPH_MAX_ALIASES", Limits.max_aliases),
            max_tokens=_env_int("SHAREGRAPH_MAX_TOKENS", Limits.max_tokens),
            max_cost=_env_int("SHAREGRAPH_MAX_COST", Limits.max_cost),
            max_fields=_env_int("SHAREGRAPH_MAX_FIELDS", Limits.max_fields),
            max_page_size=_env_int("SHAREGRAPH_MAX_PAGE_SIZE", Limits.max_page_size),
            default_page_size=_env_int("SHAREGRAPH_DEFAULT_PAGE_SIZE", Limits.default_page_size),
            plain_list_cost=_env_int("SHAREGRAPH_PLAIN_LIST_COST", Limits.plain_list_cost),
            request_timeout_seconds=_env_float(
                "SHAREGRAPH_REQUEST_TIMEOUT", Limits.request_timeout_seconds
            ),
            max_list_items=_env_int("SHAREGRAPH_MAX_LIST_ITEMS", Limits.max_list_items),
            max_body_bytes=_env_int("SHAREGRAPH_MAX_BODY_BYTES", Limits.max_body_bytes),
            max_requests_in_flight=_env_int(
                "SHAREGRAPH_MAX_REQUESTS_IN_FLIGHT", Limits.max_requests_in_flight
            ),
            max_connections=_env_int("SHAREGRAPH_MAX_CONNECTIONS", Limits.max_connections),
            client_io_timeout_seconds=_env_float(
                "SHAREGRAPH_CLIENT_IO_TIMEOUT", Limits.client_io_timeout_seconds
            ),
            request_head_timeout_seconds=_env_seconds(
                "SHAREGRAPH_REQUEST_HEAD_TIMEOUT", Limits.request_head_timeout_seconds
            ),
            max_json_depth=_env_int("SHAREGRAPH_MAX_JSON_DEPTH", Limits.max_json_depth),
        )
        settings = cls(
            database_url=default_database_url(),
            graphiql=_env_bool("SHAREGRAPH_GRAPHIQL", False),
            introspection=_env_bool("SHAREGRAPH_INTROSPECTION", True),
            limits=limits,
            jwt_hs256_secret=os.environ.get("SHAREGRAPH_JWT_HS256_SECRET") or None,
            jwt_jwks_file=os.environ.get("SHAREGRAPH_JWT_JWKS_FILE") or None,
            jwt_audience=os.environ.get("SHAREGRAPH_JWT_AUDIENCE") or None,
            jwt_issuer=os.environ.get("SHAREGRAPH_JWT_ISSUER") or None,
            jwt_algorithms=tuple(
                name.strip()
                for name in (os.environ.get("SHAREGRAPH_JWT_ALGORITHMS") or "").split(",")
                if name.strip()
            )
            or DEFAULT_JWT_ALGORITHMS,
            demo_secret=os.environ.get("SHAREGRAPH_DEMO_SECRET") or cls.demo_secret,
            echo_sql=_env_bool("SHAREGRAPH_ECHO_SQL", False),
            compiled_reads=_env_bool("SHAREGRAPH_COMPILED_READS", cls.compiled_reads),
            credential_cache_seconds=_env_float(
                "SHAREGRAPH_CREDENTIAL_CACHE_SECONDS", cls.credential_cache_seconds
            ),
            smtp=SmtpSettings.from_env(),
            exchange=ExchangeSettings.from_env(),
            signin=SignInSettings.from_env(),
            fairness=FairnessSettings.from_env(),
            scheduler=_env_bool("SHAREGRAPH_SCHEDULER", True),
            scheduler_poll_seconds=_env_float(
                "SHAREGRAPH_SCHEDULER_POLL", cls.scheduler_poll_seconds
            ),
            audit_seal_interval_seconds=_env_float(
                "SHAREGRAPH_AUDIT_SEAL_INTERVAL", cls.audit_seal_interval_seconds
            ),
            cors_origins=_env_origins("SHAREGRAPH_CORS_ORIGINS"),
            event_retention_days=_env_float(
                "SHAREGRAPH_EVENT_RETENTION_DAYS", cls.event_retention_days
            ),
            subscriptions=SubscriptionSettings.from_env(),
            webhooks=WebhookSettings.from_env(),
            replication=ReplicationSettings.from_env(),
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]
