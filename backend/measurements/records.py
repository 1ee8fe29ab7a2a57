"""The records of research measurements, and their names handed out once each.

A dataset is registered under its base name; every series computed from it gets the next
number of its kind for that dataset (``spx_3``, ``spx_run12``, ``spx_sim40``). Two processes
allocating at once get different numbers: the records store's unique (base, kind, number)
refuses the second of two equal inserts, and the loser takes the next number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from backend.measurements.names import Kind, MeasurementName, clean_base, derived, parse_name
from backend.meta.models import MeasurementRecord, utc_now
from backend.meta.store import MetaStore

STORES: Final = ("parquet", "clickhouse", "questdb")
ALLOCATE_TRIES: Final = 50
_TABLE = MeasurementRecord.__table__


class MeasurementRecordError(ValueError):
    """A record that cannot be made; the message can be shown."""


@dataclass(frozen=True)
class Record:
    name: str
    base: str
    kind: str
    number: int | None
    store: str
    created_by: str
    created_at: datetime
    inputs: Mapping[str, Any]
    deleted: bool = False


def _record(row: Any) -> Record:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return Record(name=row.name, base=row.base, kind=row.kind, number=row.number, store=row.store,
                  created_by=row.created_by, created_at=created, inputs=dict(row.inputs or {}),
                  deleted=row.deleted_at is not None)


def _store(store: object) -> str:
    if store not in STORES:
        raise MeasurementRecordError(f"store: one of {', '.join(STORES)}, got {str(store)[:40]!r}")
    return str(store)


class MeasurementRecords:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        # (kind, base) → (the table's state when read, the summaries then)
        self._summaries: dict[tuple[str, str | None], tuple[tuple[Any, ...], list[dict[str, Any]]]] = {}

    def register_dataset(self, name: str, *, store: str, created_by: str = "",
                         inputs: Mapping[str, Any] | None = None) -> Record:
        """The record of a new dataset ``name``; refused when a dataset of that name exists (a deleted
        one's name may be used again: the series numbered from it go on from where they were)."""
        base, store = clean_base(name), _store(store)
        values = {"store": store, "created_by": created_by[:64], "created_at": utc_now(),
                  "inputs": dict(inputs or {}), "deleted_at": None}
        try:
            with self.meta.write() as conn:
                revived = conn.execute(update(_TABLE).where(_TABLE.c.name == base, _TABLE.c.deleted_at.is_not(None))
                                       .values(**values)).rowcount
                if not revived:
                    conn.execute(insert(_TABLE).values(name=base, base=base, kind="dataset", number=None, **values))
                return _record(conn.execute(select(_TABLE).where(_TABLE.c.name == base)).one())
        except IntegrityError:
            raise MeasurementRecordError(f"there is already a dataset {base!r}") from None

    def allocate(self, base: str, kind: Kind, *, store: str, created_by: str = "",
                 inputs: Mapping[str, Any] | None = None, summary: Mapping[str, Any] | None = None) -> MeasurementName:
        """The next free name of ``kind`` computed from dataset ``base``, recorded as taken (with
        ``summary``, the flat scalars that listings show)."""
        base, store = clean_base(base), _store(store)
        derived(base, kind, 1)  # the kind is one a series can have
        for _ in range(ALLOCATE_TRIES):
            try:
                with self.meta.write() as conn:
                    if conn.execute(select(_TABLE.c.name).where(
                            _TABLE.c.name == base, _TABLE.c.kind == "dataset",
                            _TABLE.c.deleted_at.is_(None))).first() is None:
                        raise MeasurementRecordError(f"there is no dataset {base!r}")
                    last = conn.execute(select(func.max(_TABLE.c.number)).where(
                        _TABLE.c.base == base, _TABLE.c.kind == kind)).scalar()
                    name = derived(base, kind, int(last or 0) + 1)
                    conn.execute(insert(_TABLE).values(name=name.name, base=base, kind=kind, number=name.number,
                                                       store=store, created_by=created_by[:64],
                                                       created_at=utc_now(), inputs=dict(inputs or {}),
                                                       summary=None if summary is None else dict(summary)))
                    return name
            except IntegrityError:
                continue  # another process took that number between the read and the insert
        raise MeasurementRecordError(f"could not allocate a {kind} name for {base!r}: try again")

    def update_inputs(self, name: str, **more: Any) -> None:
        """Add to what the record of ``name`` says about how it was made (what it was made of stays)."""
        parsed = parse_name(name)
        with self.meta.write() as conn:
            row = conn.execute(select(_TABLE.c.inputs).where(_TABLE.c.name == parsed.name)).first()
            if row is None:
                raise MeasurementRecordError(f"there is no measurement {parsed.name!r}")
            conn.execute(update(_TABLE).where(_TABLE.c.name == parsed.name)
                         .values(inputs={**dict(row.inputs or {}), **more}))

    def get(self, name: str) -> Record | None:
        """The record of ``name`` (None: never made, or deleted)."""
        name = parse_name(name).name
        with self.meta.read() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.name == name, _TABLE.c.deleted_at.is_(None))).first()
        return None if row is None else _record(row)

    def list(self, base: str | None = None, *, include_deleted: bool = False) -> list[Record]:
        query = select(_TABLE).order_by(_TABLE.c.base, _TABLE.c.kind, _TABLE.c.number)
        if not include_deleted:
            query = query.where(_TABLE.c.deleted_at.is_(None))
        if base is not None:
            query = query.where(_TABLE.c.base == clean_base(base))
        with self.meta.read() as conn:
            return [_record(row) for row in conn.execute(query)]

    def summaries(self, kind: Kind, base: str | None = None) -> list[dict[str, Any]]:
        """Every live record of ``kind`` (of dataset ``base``) as its summary with ``name``, ``base``,
        ``created_at`` (ISO-8601) and ``created_by``; the inputs are never read, so thousands list
        quickly. Records made without a summary give only those four keys."""
        columns = (_TABLE.c.name, _TABLE.c.base, _TABLE.c.created_at, _TABLE.c.created_by, _TABLE.c.summary)
        where = [_TABLE.c.kind == kind] + ([_TABLE.c.base == clean_base(base)] if base is not None else [])
        with self.meta.read() as conn:
            # Summaries are written once, with their record: the list only changes when a record is
            # added or deleted, which this cheap look at the table tells. Decoding 10,000 summaries'
            # JSON costs most of a second; a browser scrolling through them asks again and again.
            state = tuple(conn.execute(select(func.count(_TABLE.c.name), func.max(_TABLE.c.created_at),
                                              func.max(_TABLE.c.deleted_at)).where(*where)).one())
            key = (kind, base)
            kept = self._summaries.get(key)
            if kept is None or kept[0] != state:
                rows = conn.execute(select(*columns).where(*where, _TABLE.c.deleted_at.is_(None))
                                    .order_by(_TABLE.c.created_at, _TABLE.c.name)).all()
                listed = []
                for row in rows:
                    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
                    listed.append({**(row.summary or {}), "name": row.name, "base": row.base,
                                   "created_at": created.isoformat(), "created_by": row.created_by})
                kept = (state, listed)
                self._summaries[key] = kept
        return [dict(row) for row in kept[1]]

    def remove(self, name: str) -> bool:
        """Mark ``name`` deleted (a dataset only once nothing computed from it is left); its record
        stays, so the name of a series is never given to another."""
        parsed = parse_name(name)
        with self.meta.write() as conn:
            if parsed.kind == "dataset":
                left = conn.execute(select(func.count()).select_from(_TABLE).where(
                    _TABLE.c.base == parsed.base, _TABLE.c.kind != "dataset", _TABLE.c.deleted_at.is_(None))).scalar()
                if left:
                    raise MeasurementRecordError(
                        f"{parsed.base!r} still has {left} series computed from it: delete those first")
            return conn.execute(update(_TABLE).where(_TABLE.c.name == parsed.name, _TABLE.c.deleted_at.is_(None))
                                .values(deleted_at=utc_now())).rowcount > 0
