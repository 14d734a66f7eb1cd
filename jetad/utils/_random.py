import numbers

from sklearn.utils import check_random_state


def check_random_seed(random_state):
    """Draw a 31-bit integer seed from ``random_state``.

    ``None`` and ``RandomState`` instances are consumed (one draw), integers are
    returned unchanged, so the same integer always gives the same seed. Use it to
    seed torch generators and external programs (Pythia) without touching any
    global random state.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {random_state}")
        return int(random_state) % (2**31 - 1)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))
