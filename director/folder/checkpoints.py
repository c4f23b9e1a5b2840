"""Where a story's LangGraph checkpoints live: SQLite in its folder, or a PostgreSQL database.

SQLite (`state.sqlite` in the story folder) is the default: the folder alone resumes the story.
With `--checkpoint-db postgresql://...` the checkpoints go through LangGraph's Postgres
checkpointer (`langgraph-checkpoint-postgres`), so a story started by one host or batch worker
resumes on another that sees the same story folder (shared storage) and the same database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class CheckpointDBError(ValueError):
    """A checkpoint database that cannot be used; one readable line."""


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def check_checkpoint_db(url: str | None, timeout: float = 5.0) -> None:
    """Refuse a `--checkpoint-db` that is not PostgreSQL or cannot be reached, before anything runs;
    creates LangGraph's tables when they are missing (idempotent)."""
    if url is None:
        return
    if not url.startswith(POSTGRES_SCHEMES):
        raise CheckpointDBError(f"--checkpoint-db takes a postgresql://USER@HOST:PORT/DATABASE URL, got {describe(url)!r}")
    try:
        import psycopg  # noqa: F401
        from langgraph.checkpoint.postgres import PostgresSaver  # noqa: F401
    except ImportError:
        raise CheckpointDBError("--checkpoint-db needs the Postgres checkpointer: pip install 'storymem[postgres]'") from None
    with _postgres(url, timeout) as saver:
        saver.setup()


@contextmanager
def _postgres(url: str, timeout: float) -> Iterator[BaseCheckpointSaver]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:
        connection = psycopg.Connection.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as error:
        raise CheckpointDBError(f"--checkpoint-db {describe(url)} cannot be used: {' '.join(str(error).split())[:200]}") from None
    with connection:
        yield PostgresSaver(connection)


@contextmanager
def open_checkpointer(url: str | None, state_path: Path) -> Iterator[BaseCheckpointSaver]:
    """The checkpointer a run uses: PostgreSQL at `url` (tables created when missing), else
    SQLite at `state_path`."""
    if url is None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        connection = sqlite3.connect(state_path, check_same_thread=False)
        # The saver turns on WAL; in WAL mode NORMAL sync survives a killed process (the only crash
        # the checkpoints must survive: the folder is the record) without an fsync per step.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(connection)
        try:
            yield saver
        finally:
            with saver.lock:  # a graph thread left running by Ctrl-C may be writing its last checkpoint
                connection.close()  # (closing under it would crash the process; after, it gets an error)
        return
    if not url.startswith(POSTGRES_SCHEMES):
        check_checkpoint_db(url)  # raises the one-line refusal
    with _postgres(url, timeout=10) as saver:
        saver.setup()
        yield saver
