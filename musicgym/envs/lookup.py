"""The catalog arrays the fused kernels read, laid out for them: the same values, shared by the cores of a process.

* `table32`: a shared index's neighbour table as int32 (half the cache lines per scan), where that copy
  takes at most `TABLE32_MAX_BYTES`;
* `taste_c`: a catalog's taste features in C order (the catalog's are in Fortran order, where one
  track's nine features lie in nine cache lines).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from musicgym.catalog import Catalog

#: the int32 copy of a neighbour table is made up to this size (64 MB); a larger catalog's int64 table is
#: read as it is (the 1M-track catalog's memory budget)
TABLE32_MAX_BYTES = 64 << 20
#: per shared index: its neighbour table as int32
_tables32: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
#: per catalog: its taste features in C order
_tastes: weakref.WeakKeyDictionary[Catalog, np.ndarray] = weakref.WeakKeyDictionary()


def table32(index: Any, table: np.ndarray) -> np.ndarray:
    """The neighbour `table` of `index` as a shared int32 copy where that takes at most `TABLE32_MAX_BYTES`.

    Else `table` itself.
    """
    if table.size * 4 > TABLE32_MAX_BYTES:
        return table
    if index not in _tables32 or _tables32[index].shape != table.shape:
        _tables32[index] = np.ascontiguousarray(table, dtype=np.int32)
    return _tables32[index]


def taste_c(catalog: Catalog) -> np.ndarray:
    """(N, 9) float32: the catalog's taste features in C order (a shared copy)."""
    if catalog not in _tastes:
        _tastes[catalog] = np.ascontiguousarray(catalog.taste_features, dtype=np.float32)
    return _tastes[catalog]
