"""Small shared utilities (optional imports, RNG seeding, cache folder, atomic writes)."""

from ._atomic import atomic_json, atomic_npz, atomic_path
from ._cache import get_cache_dir
from ._dask import score_dask, transform_dask
from ._optional import import_optional
from ._random import check_random_seed

__all__ = ["atomic_json", "atomic_npz", "atomic_path", "check_random_seed", "get_cache_dir",
           "import_optional"]
__all__ += ["score_dask", "transform_dask"]
