"""Old location of the NAE's Langevin chains: NAE detectors pickled by earlier versions
hold a ``ReplayBuffer`` under this name. The code lives in ``jetad.detectors._nae._langevin``."""

from ._nae._langevin import ReplayBuffer

__all__ = ["ReplayBuffer"]
