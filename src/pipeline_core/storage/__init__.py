"""Storage: one port, three adapters, chosen by URL.

- :mod:`pipeline_core.storage.ports`: the Protocols every store implements (versioned
  repositories with optimistic concurrency, append-only logs, a unit of work).
- :class:`InMemoryStore` (``memory://``), :class:`SQLiteStore` (``sqlite:///path``, ``sqlite://``),
  :class:`PostgresStore` (``postgresql://...``; needs the ``postgres`` extra).
- :func:`open` picks one from a URL.

>>> from pipeline_core.storage import open
>>> with open("memory://") as store:
...     store.opportunities.count()
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pipeline_core.errors import ConfigError, Problem
from pipeline_core.storage.memory import InMemoryStore
from pipeline_core.storage.ports import (
    AccountRepository,
    ActivityLog,
    AppendLog,
    BaseStore,
    ContactRepository,
    JournalLog,
    LeadRepository,
    OpportunityRepository,
    Progress,
    Repositories,
    Repository,
    SlaOutcomeRepository,
    StageEventLog,
    Store,
    TeamRepository,
    UnitOfWork,
    UserRepository,
)
from pipeline_core.storage.sqlite import SQLiteStore

if TYPE_CHECKING:
    from pipeline_core.storage.postgres import PostgresStore

__all__ = [
    "AccountRepository",
    "ActivityLog",
    "AppendLog",
    "BaseStore",
    "ContactRepository",
    "InMemoryStore",
    "JournalLog",
    "LeadRepository",
    "OpportunityRepository",
    "PostgresStore",
    "Progress",
    "Repositories",
    "Repository",
    "SQLiteStore",
    "SlaOutcomeRepository",
    "StageEventLog",
    "Store",
    "TeamRepository",
    "UnitOfWork",
    "UserRepository",
    "open",
]


def open(url: str, **options: Any) -> BaseStore:
    """Open the store a URL names.

    - ``memory://``: :class:`InMemoryStore`;
    - ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or ``sqlite://``
      (an in-memory SQLite database): :class:`SQLiteStore`;
    - ``postgresql://user:password@host:port/dbname`` (also ``postgres://``), optionally with
      ``?schema=name`` to keep the tables in their own PostgreSQL schema: :class:`PostgresStore`.

    ``options`` go to the store's constructor (e.g. ``timeout=`` for SQLite, ``schema=`` for
    PostgreSQL). An unknown scheme raises :class:`~pipeline_core.errors.ConfigError` (a
    ``ValueError``) naming the scheme and the accepted ones.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(
            f"not a store URL: {url!r}; expected memory://, sqlite:///path or postgresql://..."
        )
    scheme = scheme.lower()
    if scheme == "memory":
        if rest:
            raise ValueError(f"memory:// takes no path, got {url!r}")
        return InMemoryStore(**options)
    if scheme == "sqlite":
        if rest == "" or rest == "/:memory:":
            return SQLiteStore(":memory:", **options)
        if not rest.startswith("/"):
            raise ValueError(
                f"SQLite URLs are sqlite:///relative.db or sqlite:////absolute.db, got {url!r}"
            )
        return SQLiteStore(rest[1:], **options)
    if scheme in ("postgresql", "postgres"):
        from pipeline_core.storage.postgres import PostgresStore

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if "schema" in query:
            options.setdefault("schema", query.pop("schema")[-1])
            remaining = "&".join(f"{k}={v}" for k, vs in query.items() for v in vs)
            url = parts._replace(query=remaining).geturl()
        return PostgresStore(url, **options)
    raise ConfigError(
        "store URL",
        [
            Problem(
                ("url",),
                f"unknown store URL scheme {scheme!r}; expected memory://, sqlite:///path, "
                "sqlite:// or postgresql://...",
                url,
                "unknown_scheme",
            )
        ],
    )


def __getattr__(name: str) -> Any:
    # PostgresStore is imported on first use, so `import pipeline_core.storage` never needs psycopg.
    if name == "PostgresStore":
        from pipeline_core.storage.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    # Static proof that every built-in store implements the port (checked by mypy --strict).
    def _implements_the_port(
        memory: InMemoryStore, sqlite: SQLiteStore, postgres: PostgresStore
    ) -> tuple[Store, Store, Store]:
        return memory, sqlite, postgres
