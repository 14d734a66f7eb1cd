"""Truth matching of generated jets: the hard-process partons a jet must lie near."""

import numpy as np

__all__ = ["dark_quarks", "match_rule", "matching_summary"]

DARK_QUARK_ID = 4900101
# Pythia status |23|: outgoing from the hard process or from the decay of one
# of its resonances (Z' -> q_v q_v-bar; F_v -> q q_v after the F_v shower).
_HARD_DECAY_STATUS = 23
_MAX_DARK_QUARKS = 2

_RULES = {
    "ttbar": "leading-jet axis within Delta R < {r} of the parton-level top (mother of the W) "
             "and of its b (|status| 23, from the top) and both W-decay quarks (|status| 23), "
             "for the top or the anti-top",
    "hidden_valley": "leading-jet axis within Delta R < {r} of a dark quark q_v (|id| 4900101, "
                     "|status| 23: from the hard-process Z' decay)",
    "hv_pair": "leading-jet axis within Delta R < {r} of a dark quark q_v (|id| 4900101, "
               "|status| 23: from the decay F_v -> q q_v of a pair-produced F_v)",
}


def dark_quarks(rec, event, n_events):
    """Four-momenta of the hard-process dark quarks of each event.

    Parameters
    ----------
    rec : dict of ndarray
        Flat event record (``id``, ``status``, ``e``, ``px``, ``py``, ``pz``).
    event : ndarray of int
        Event index of every record entry.
    n_events : int

    Returns
    -------
    partons : ndarray of shape (n_events, 2, 4)
        ``(E, px, py, pz)`` of the first two q_v / q_v-bar with ``|status| = 23``
        in record order; missing ones stay zero (they never match).
    """
    pick = np.flatnonzero((np.abs(rec["id"]) == DARK_QUARK_ID)
                          & (np.abs(rec["status"]) == _HARD_DECAY_STATUS))
    ev = event[pick]
    starts = np.searchsorted(ev, np.arange(n_events))
    slot = np.arange(len(pick)) - starts[ev]  # rank of the quark within its event
    keep = slot < _MAX_DARK_QUARKS
    out = np.zeros((n_events, _MAX_DARK_QUARKS, 4))
    p4 = np.stack([rec[k][pick] for k in ("e", "px", "py", "pz")], axis=-1)
    out[ev[keep], slot[keep]] = p4[keep]
    return out


def match_rule(card):
    """Human-readable matching rule of a resolved card, or ``None`` if unmatched."""
    if "match_r" not in card:
        return None
    return _RULES[card["process"]].format(r=card["match_r"])


def matching_summary(card, chunk_stats):
    """Matching rule and the fraction of jets in the kinematic window that failed it.

    Parameters
    ----------
    card : dict
        Resolved card.
    chunk_stats : list of dict
        Per-chunk statistics with ``n_jets`` and ``n_unmatched`` (jets that passed
        the pT / eta selection but not the matching).

    Returns
    -------
    summary : dict or None
        ``None`` for kinds without matching. ``failed_fraction`` is ``None`` when a
        chunk (from a file written by an older version) did not count its failures.
    """
    rule = match_rule(card)
    if rule is None:
        return None
    n_jets = sum(chunk["n_jets"] for chunk in chunk_stats)
    failed = [chunk.get("n_unmatched") for chunk in chunk_stats]
    n_failed = None if any(f is None for f in failed) else int(sum(failed))
    n_window = None if n_failed is None else n_jets + n_failed
    return {
        "rule": rule,
        "match_r": card["match_r"],
        "n_in_window": n_window,
        "n_failed": n_failed,
        "failed_fraction": n_failed / n_window if n_window else None,
    }
