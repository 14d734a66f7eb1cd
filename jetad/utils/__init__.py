"""Small shared utilities (optional imports, RNG seeding, atomic files)."""

from ._optional import import_optional
from ._random import check_random_seed

__all__ = ["check_random_seed", "import_optional"]
