"""The job database: two tables (jobs, and one row per (job, K, sampler)), SQLAlchemy.

Any URL SQLAlchemy understands works; SQLite (the default) gets WAL mode and a busy timeout.
Writes go through :meth:`Database.write`, one transaction at a time in this process, so the
server's threads never race each other for SQLite's write lock. Each write counts which jobs it
changed (:meth:`Database.version`): a reply built from the database stays valid until its job
changes, so polls of unchanged jobs are answered from memory.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

__all__ = ["ACTIVE", "FINISHED", "STATES", "Database", "Job", "JobRun", "check_database", "now"]

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


class Job(Base):
    """One submitted sweep.

    ``state`` goes queued → running → done | failed | cancelled; a running job interrupted by
    a server shutdown or crash goes back to queued and resumes from the runs already on disk.
    ``name`` is the sweep's directory under the runs directory.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created: Mapped[float] = mapped_column(Float)
    started: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    figures: Mapped[bool] = mapped_column(Boolean, default=True)
    data_file: Mapped[str] = mapped_column(String(64))
    n_runs: Mapped[int] = mapped_column(Integer)
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    warning: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the cost estimate at submission (CostEstimate.to_dict() JSON; None: nothing to run)
    cost: Mapped[str | None] = mapped_column(Text, nullable=True)
    runs: Mapped[list[JobRun]] = relationship(
        back_populates="job", cascade="all, delete-orphan",
        order_by=lambda: [JobRun.sampler, JobRun.k])


class JobRun(Base):
    """One (K, sampler) run of a job: pending, done (with its evidence row) or screened (a
    coarse-to-fine grid decided not to run it)."""

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    k: Mapped[int] = mapped_column(Integer, primary_key=True)
    sampler: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    row: Mapped[str | None] = mapped_column(Text, nullable=True)  # EvidenceRow.to_dict() JSON
    job: Mapped[Job] = relationship(back_populates="runs")

    def row_dict(self) -> dict[str, Any] | None:
        """The evidence row, or None while pending."""
        return None if self.row is None else json.loads(self.row)


class Database:
    """The engine, a read session and a serialised write transaction.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL.
    """

    def __init__(self, url: str) -> None:
        sqlite = url.startswith("sqlite")
        self.engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {})
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_new_columns(self.engine)
        self._write_lock = threading.RLock()
        self.generation = 0  # counts write transactions that changed something
        self._versions: dict[str, int] = {}  # per job: the generation of its last change
        self._everything = 0  # the generation of the last change not traced to a job
        self._cache: dict[Any, tuple[int, Any]] = {}

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (objects stay usable after it closes)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session inside one transaction, committed on success, rolled back on error."""
        with self._write_lock:
            session = Session(self.engine, expire_on_commit=False)
            changed: set[str | None] = set()
            event.listen(session, "after_flush",
                         lambda s, _: changed.update(_changed_jobs(s)))
            try:
                with session, session.begin():
                    yield session
            finally:  # after the commit: a reply built before it is not kept past it
                if changed:  # a transaction that changed nothing keeps the cached replies
                    self.generation += 1
                    for job_id in changed:
                        if job_id is None:
                            self._everything = self.generation
                        else:
                            self._versions[job_id] = self.generation

    def version(self, job_id: str | None = None) -> int:
        """A number that changes whenever ``job_id`` (its row or its runs) is written;
        without ``job_id``, whenever anything is."""
        if job_id is None:
            return self.generation
        return max(self._versions.get(job_id, 0), self._everything)

    def peek(self, key: Any, job_id: str | None = None) -> Any:
        """What :meth:`cached` holds for ``key`` if ``version(job_id)`` did not change since,
        else None."""
        hit = self._cache.get(key)
        return hit[1] if hit is not None and hit[0] == self.version(job_id) else None

    def cached(self, key: Any, build: Callable[[], Any], job_id: str | None = None) -> Any:
        """``build()``, computed again only after a write to ``job_id`` (any write, without
        it): polls of an unchanged job are answered without touching the database (this
        process makes every write)."""
        version = self.version(job_id)  # read before building: a write during it is seen
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = build()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (version, value)
        return value

    def job(self, job_id: str) -> Job | None:
        """The job with its runs loaded, or None."""
        with self.read() as session:
            return session.get(Job, job_id, options=[selectinload(Job.runs)])

    def jobs(self) -> list[Job]:
        """Every job, newest first, with its runs loaded."""
        with self.read() as session:
            query = select(Job).options(selectinload(Job.runs)).order_by(Job.created.desc())
            return list(session.scalars(query))

    def dispose(self) -> None:
        """Close the connections."""
        self.engine.dispose()


def _changed_jobs(session: Session) -> set[str | None]:
    """The ids of the jobs whose rows or runs a flush wrote (None: a change not traced to one)."""
    out: set[str | None] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Job):
            out.add(obj.id)
        elif isinstance(obj, JobRun):
            out.add(obj.job_id if obj.job_id is not None else
                    (obj.job.id if obj.job is not None else None))
        else:
            out.add(None)
    return out


#: Columns added to a table after its first release: (table, column, SQL type), added to a
#: database made before them (create_all makes missing tables only).
_NEW_COLUMNS = (("jobs", "cost", "TEXT"),)


def _add_new_columns(engine: Any) -> None:
    """Add :data:`_NEW_COLUMNS` a database made by an older nestmix lacks (nullable: its
    jobs keep None there)."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    for table, column, kind in _NEW_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def check_database(url: str) -> None:
    """Open the database once (creating its tables), so a bad ``--db`` fails at start-up.

    Raises
    ------
    ConfigError
        If SQLAlchemy cannot use ``url``: not a URL, a missing driver, no connection.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from nestmix.errors import ConfigError

    try:
        Database(url).dispose()
    except (SQLAlchemyError, ImportError) as exc:
        raise ConfigError("--db", f"cannot use the database {url!r}: "
                          f"{type(exc).__name__}: {exc}") from None


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def now() -> float:
    """Seconds since the epoch (the database's time stamps)."""
    return time.time()
