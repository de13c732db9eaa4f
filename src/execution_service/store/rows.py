"""Rows <-> domain objects, derived from the objects themselves.

A table's columns are its entity's fields (`tables.columns_of`), so a row is the entity's
field values by name, each enum stored as its value; a stored row's changes are every
column but the ones fixed when the entity is created. Nothing here names a field.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import UnionType
from typing import Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

from sqlalchemy import Table

from execution_service.domain.orders import ORDER_TERMS, Order, Trade
from execution_service.engine.positions import Position
from execution_service.store import tables

T = TypeVar("T")


class Rows(Generic[T]):
    """How `entity` is stored in `table`: `values` a new row, `change` the columns that can
    change on a stored one (all but `fixed`), `load` a row back."""

    def __init__(self, entity: type[T], table: Table, fixed: Iterable[str] = ()) -> None:
        self.entity = entity
        self.columns = tables.written(table)
        # What a row is read back with: also what the database assigned (`number`).
        self.selected = tuple(str(column.name) for column in table.columns
                              if column.name in get_type_hints(entity))
        fixed = frozenset(fixed)
        self.changes = tuple(name for name in self.columns if name not in fixed)
        hints = get_type_hints(entity)
        self._enums = {name: enum for name in self.columns if (enum := _enum_of(hints[name]))}
        self._optional = frozenset(name for name in self._enums
                                   if type(None) in get_args(hints[name]))
        self._values = _Getter(self.columns, self._enums)
        self._change = _Getter(self.changes, self._enums)

    def values(self, item: T) -> tuple[Any, ...]:
        """A new row, in `columns` order."""
        return self._values(item)

    def change(self, item: T) -> tuple[Any, ...]:
        """What a stored row changes to, in `changes` order."""
        return self._change(item)

    def row(self, item: T) -> dict[str, Any]:
        """A new row by column name."""
        return dict(zip(self.columns, self._values(item), strict=True))

    def changed(self, item: T) -> dict[str, Any]:
        """What a stored row changes to, by column name."""
        return dict(zip(self.changes, self._change(item), strict=True))

    def load(self, row: Mapping[Any, Any]) -> T:
        """The entity a row holds. A stored enum value this version does not know is None
        where the field may be None (an error code written by a newer version, say)."""
        fields = {name: row[name] for name in self.selected}
        for name, enum in self._enums.items():
            value = fields[name]
            if value is not None:
                fields[name] = enum._value2member_map_.get(value) or (
                    None if name in self._optional else enum(value))
        return self.entity(**fields)


class _Getter:
    """The named attributes of an object as a tuple, enums as their values."""

    def __init__(self, names: tuple[str, ...], enums: Mapping[str, type[StrEnum]]) -> None:
        self._get = operator.attrgetter(*names)
        self._enum_positions = [index for index, name in enumerate(names) if name in enums]

    def __call__(self, item: object) -> tuple[Any, ...]:
        values = list(self._get(item))
        for index in self._enum_positions:
            if (value := values[index]) is not None:
                values[index] = value.value
        return tuple(values)


def _enum_of(hint: Any) -> type[StrEnum] | None:
    members = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    for member in members:
        if isinstance(member, type) and issubclass(member, StrEnum):
            return member
    return None


ORDERS = Rows(Order, tables.orders, fixed=ORDER_TERMS)
TRADES = Rows(Trade, tables.trades)
POSITIONS = Rows(Position, tables.positions, fixed=("account", "symbol"))
