"""One Pythia batch to selected leading jets: the event record, the final state, the jet.

The per-event steps of :func:`jetad.datasets.generate_jets` (which owns seeds,
chunks, resuming and provenance).
"""

import numpy as np

from ..jets import ptetaphi_from_p4s, wrap_phi
from ..utils import import_optional
from ..utils._fastjet import c_stdout_silenced, cluster_events
from ._cards import pythia_settings
from ._response import apply_detector_response
from ._truth import dark_quarks

_INVISIBLE_IDS = (12, 14, 16, 51, 52, 53)

def _make_pythia(card, seed):
    pythia8mc = import_optional("pythia8mc")
    py = pythia8mc.Pythia("", False)
    for setting in pythia_settings(card, seed=seed):
        if not py.readString(setting):
            raise ValueError(f"Pythia rejected the setting {setting!r}")
    with c_stdout_silenced():
        ok = py.init()
    if not ok:
        raise RuntimeError(f"Pythia initialisation failed for process {card['process']!r}")
    return py


class _ParticleTable:
    """Cached charge / visibility lookup by PDG id (from Pythia's particle data)."""

    def __init__(self, particle_data):
        self._pd = particle_data
        self._ids = np.zeros(0, dtype=np.int64)
        self._charge = np.zeros(0)
        self._visible = np.zeros(0, dtype=bool)

    def lookup(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        new = np.setdiff1d(np.unique(ids), self._ids, assume_unique=True)
        if len(new):
            charge = [self._pd.charge(int(i)) for i in new]
            visible = [
                bool(self._pd.isVisible(int(i))) and abs(int(i)) not in _INVISIBLE_IDS
                and not 4_900_000 <= abs(int(i)) < 5_000_000
                for i in new
            ]
            ids_all = np.concatenate([self._ids, new])
            order = np.argsort(ids_all)
            self._ids = ids_all[order]
            self._charge = np.concatenate([self._charge, charge])[order]
            self._visible = np.concatenate([self._visible, visible])[order]
        pos = np.searchsorted(self._ids, ids)
        return self._charge[pos], self._visible[pos]


def _flat_event_record(batch):
    """Flat numpy view of a Pythia awkward batch: fields, event index, offsets."""
    ak = import_optional("awkward")
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    flat = ak.flatten(prt, axis=1)
    rec = {
        "id": ak.to_numpy(flat.id).astype(np.int64),
        "status": ak.to_numpy(flat.status),
        "mother1": ak.to_numpy(flat.mother1).astype(np.int64),
        "px": ak.to_numpy(flat.p.px),
        "py": ak.to_numpy(flat.p.py),
        "pz": ak.to_numpy(flat.p.pz),
        "e": ak.to_numpy(flat.p.e),
    }
    offsets = np.cumsum(counts) - counts
    event = np.repeat(np.arange(len(counts)), counts)
    return rec, event, offsets


def _top_partons(rec, event, offsets, n_events):
    """Parton-level top and its b, q, q' per event: (n_events, 2, 4, 4) of (E, px, py, pz).

    Slot 0 = top, 1 = anti-top; entries 0..3 = top, b, q, q'. Missing partons
    stay zero (and never match).
    """
    pid, status = rec["id"], rec["status"]
    mom = offsets[event] + rec["mother1"]
    mother_id = np.where(rec["mother1"] > 0, pid[np.clip(mom, 0, len(pid) - 1)], 0)
    p4 = np.stack([rec["e"], rec["px"], rec["py"], rec["pz"]], axis=-1)
    out = np.zeros((n_events, 2, 4, 4))
    # the top that decays (last copy) is the mother of the W; b and q from the decays
    is_w = (np.abs(pid) == 24) & (np.abs(mother_id) == 6)
    is_b = (np.abs(pid) == 5) & (np.abs(status) == 23) & (np.abs(mother_id) == 6)
    is_q = (np.abs(pid) <= 5) & (np.abs(status) == 23) & (np.abs(mother_id) == 24)
    idx = np.flatnonzero(is_w)
    top = mom[idx]
    out[event[idx], (pid[top] < 0).astype(int), 0] = p4[top]
    idx = np.flatnonzero(is_b)
    out[event[idx], (pid[idx] < 0).astype(int), 1] = p4[idx]
    idx = np.flatnonzero(is_q)
    side = (mother_id[idx] < 0).astype(int)  # W+ belongs to the top, W- to the anti-top
    # first / second quark of each W: order by position in the record
    key = event[idx] * 2 + side
    first = np.ones(len(idx), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    out[event[idx], side, np.where(first, 2, 3)] = p4[idx]
    return out


def _delta_r(eta1, phi1, eta2, phi2):
    return np.hypot(eta1 - eta2, wrap_phi(phi1 - phi2))


def _pt_eta_phi(p4):
    """pT, eta, phi of four-momenta; ``eta = inf`` where pT = 0 (never selected nor matched)."""
    pt, eta, phi = np.moveaxis(ptetaphi_from_p4s(p4), -1, 0)
    return pt, np.where(pt > 0, eta, np.inf), phi


def _final_state_objects(rec, event, level, rng, table):
    """Visible final-state particles, or the detector's objects: flat (E, px, py, pz), event."""
    final = rec["status"] > 0
    charge, visible = table.lookup(rec["id"][final])
    f_idx = np.flatnonzero(final)[visible]
    px, py, pz, energy = (rec[k][f_idx] for k in ("px", "py", "pz", "e"))
    if level == "detector":
        return apply_detector_response(px, py, pz, energy, rec["id"][f_idx], charge[visible],
                                       event[f_idx], rng)
    return np.stack([energy, px, py, pz], axis=-1), event[f_idx]


def _leading_jet_constituents(p4, counts, card):
    """Anti-kT jets of every event; the leading one's constituents, pT-ordered and padded.

    Returns
    -------
    X : (n_with_jet, n_constituents, 4) float32
    event_index : (n_with_jet,) event of each jet
    """
    ak = import_optional("awkward")
    ptmin = 0.5 * card["pt_min"]
    cs = cluster_events(p4, counts, "antikt", card["jet_r"])
    jets = cs.inclusive_jets(ptmin)
    index = cs.constituent_index(ptmin)
    lead = ak.argmax(np.hypot(jets.px, jets.py), axis=1, keepdims=True)
    lead_idx = ak.firsts(index[lead])  # events x var (None when no jet)
    has_jet = ~ak.to_numpy(ak.is_none(lead_idx))
    ev_sel = np.flatnonzero(has_jet)
    lead_idx = lead_idx[has_jet]
    n_cons = np.asarray(ak.to_numpy(ak.num(lead_idx, axis=1)), dtype=np.int64)
    obj_offsets = np.cumsum(counts) - counts
    cons_global = ak.to_numpy(ak.flatten(lead_idx)).astype(np.int64) + np.repeat(
        obj_offsets[ev_sel], n_cons
    )
    cons = p4[cons_global]
    jet_of = np.repeat(np.arange(len(ev_sel)), n_cons)
    # pT order inside each jet, keep the leading n_constituents
    order = np.lexsort((-np.hypot(cons[:, 1], cons[:, 2]), jet_of))
    cons, jet_of = cons[order], jet_of[order]
    starts = np.cumsum(n_cons) - n_cons
    pos = np.arange(len(jet_of)) - np.repeat(starts, n_cons)
    width = card["n_constituents"]
    keep = pos < width
    X = np.zeros((len(ev_sel), width, 4), dtype=np.float32)
    X[jet_of[keep], pos[keep]] = cons[keep]
    return X, ev_sel


def _process_batch(batch, card, level, rng, table):
    """Select jets in one batch of events.

    Returns
    -------
    X : (n_selected, n_constituents, 4) float32
    event_index : (n_selected,) index of the event of each jet in the batch
    unmatched_event : events whose jet passed the pT / eta cuts but not the matching
    """
    rec, event, offsets = _flat_event_record(batch)
    n_events = len(offsets)
    p4, obj_event = _final_state_objects(rec, event, level, rng, table)
    counts = np.bincount(obj_event, minlength=n_events)
    X, ev_sel = _leading_jet_constituents(p4, counts, card)
    # cuts on the jet as stored (float32 constituents, truncated)
    pt, eta, phi = _pt_eta_phi(X.astype(np.float64).sum(axis=1))
    sel = (pt >= card["pt_min"]) & (pt <= card["pt_max"]) & (np.abs(eta) < card["eta_max"])
    unmatched_event = ev_sel[:0]
    if "match_r" in card:
        matched = _truth_matched(card, rec, event, offsets, ev_sel, eta, phi)
        unmatched_event = ev_sel[sel & ~matched]
        sel &= matched
    return X[sel], ev_sel[sel], unmatched_event


def _truth_matched(card, rec, event, offsets, ev_sel, eta, phi):
    """Whether each jet lies near its event's hard-process partons (``_truth.match_rule``)."""
    n_events = len(offsets)
    if card["process"] == "ttbar":  # top and all three decay partons, of either top
        partons = _top_partons(rec, event, offsets, n_events)[ev_sel]  # (n, 2, 4, 4)
        _, p_eta, p_phi = _pt_eta_phi(partons)
        dr = _delta_r(eta[:, None, None], phi[:, None, None], p_eta, p_phi)
        return np.any(np.all(dr < card["match_r"], axis=2), axis=1)
    _, p_eta, p_phi = _pt_eta_phi(dark_quarks(rec, event, n_events)[ev_sel])  # (n, 2)
    return np.any(_delta_r(eta[:, None], phi[:, None], p_eta, p_phi) < card["match_r"], axis=1)
