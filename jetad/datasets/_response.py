"""A vectorised, Delphes-ATLAS-like detector response for generator-level particles.

The numbers come from Delphes' ``cards/delphes_card_ATLAS.tcl`` (tracking
efficiencies and momentum resolutions, ECAL 0.0174 x 1 degree and HCAL
0.1 x 10 degree towers, their resolutions and noise thresholds). Output objects
are Delphes-style energy-flow candidates: tracks, ECAL "photons" and HCAL
"neutral hadrons".

Simplifications with respect to Delphes (documented in
``docs/generation_cards.md``):

* straight-line propagation (no helix in the 2 T field, no looping tracks);
* ideal energy flow: tracked charged particles are removed from the
  calorimeters instead of subtracting the track energy from the towers;
  untracked charged particles deposit their full energy (electrons in the
  ECAL, hadrons in the HCAL), muons never deposit;
* the forward regions use uniform coarse cells (ECAL 0.175 x 10 degrees for
  3 < |eta| < 4.9, HCAL 0.2 x 20 degrees for 2.5 < |eta| < 4.9);
* no pile-up, no isolation, no unique-object finding.

Everything is done on flat arrays of a whole batch of events at once; there is
no Python loop over particles or events.
"""

import warnings

import numpy as np

__all__ = ["apply_detector_response", "detector_response"]

# (eta_low, eta_high, d_eta, d_phi in degrees), symmetric in eta
_ECAL_REGIONS = ((-4.9, -3.0, 0.175, 10.0), (-3.0, 3.0, 0.0174, 1.0), (3.0, 4.9, 0.175, 10.0))
_HCAL_REGIONS = ((-4.9, -2.5, 0.2, 20.0), (-2.5, 2.5, 0.1, 10.0), (2.5, 4.9, 0.2, 20.0))
_ECAL_E_MIN, _HCAL_E_MIN, _SIGNIFICANCE_MIN = 0.5, 1.0, 2.0
_TRACK_ETA_MAX = 2.5
_MUON_ETA_MAX = 2.7
_NEUTRINOS = (12, 14, 16)


def _ecal_sigma(energy, abseta):
    central = np.sqrt((0.0017 * energy) ** 2 + 0.101**2 * energy)
    forward = np.sqrt((0.0350 * energy) ** 2 + 0.285**2 * energy)
    return np.where(abseta <= 3.2, central, forward)


def _hcal_sigma(energy, abseta):
    s1 = np.sqrt((0.0302 * energy) ** 2 + 0.5205**2 * energy + 1.59**2)
    s2 = np.sqrt((0.05 * energy) ** 2 + 0.706**2 * energy)
    s3 = np.sqrt((0.0942 * energy) ** 2 + 1.0**2 * energy)
    return np.where(abseta <= 1.7, s1, np.where(abseta <= 3.2, s2, s3))


def _tracking_efficiency(abs_id, pt, abseta):
    """Delphes ATLAS card tracking efficiencies (charged hadrons, electrons, muons)."""
    central = abseta <= 1.5
    tracker = abseta <= _TRACK_ETA_MAX
    hadron = np.where(central, np.where(pt > 1.0, 0.95, 0.70), np.where(pt > 1.0, 0.85, 0.60))
    electron = np.where(
        central,
        np.where(pt > 100.0, 0.99, np.where(pt > 1.0, 0.95, 0.73)),
        np.where(pt > 100.0, 0.90, np.where(pt > 1.0, 0.83, 0.50)),
    )
    muon = np.where(central, np.where(pt > 1.0, 0.99, 0.75), np.where(pt > 1.0, 0.98, 0.70))
    eff = np.where(abs_id == 11, electron * tracker, hadron * tracker)
    eff = np.where(abs_id == 13, muon * (abseta <= _MUON_ETA_MAX), eff)
    return np.where(pt > 0.1, eff, 0.0)


def _track_resolution(abs_id, pt, abseta):
    """Relative pT resolution (charged hadrons and electrons; muons separately)."""
    hadron = np.where(
        abseta <= 0.5,
        np.hypot(0.06, 1.3e-3 * pt),
        np.where(abseta <= 1.5, np.hypot(0.10, 1.7e-3 * pt), np.hypot(0.25, 3.1e-3 * pt)),
    )
    muon = np.where(
        abseta <= 0.5,
        np.hypot(0.01, 1.0e-4 * pt),
        np.where(abseta <= 1.5, np.hypot(0.015, 1.5e-4 * pt), np.hypot(0.025, 3.5e-4 * pt)),
    )
    # Delphes' MomentumSmearing draws pT' ~ pT * (1 + formula * N): relative resolution
    return np.where(abs_id == 13, muon, hadron)


def _lognormal(rng, mean, sigma):
    """Log-normal draws with the given mean and standard deviation (as Delphes)."""
    mean = np.asarray(mean, dtype=np.float64)
    out = np.zeros_like(mean)
    ok = mean > 0
    mean_ok, sigma_ok = mean[ok], sigma[ok]
    var_log = np.log1p((sigma_ok / mean_ok) ** 2)
    mu = np.log(mean_ok) - 0.5 * var_log
    out[ok] = np.exp(mu + np.sqrt(var_log) * rng.standard_normal(mean_ok.shape))
    return out


def _towers(event, energy, eta, phi, regions, sigma_fn, e_min, rng):
    """Sum deposits into towers, smear, apply thresholds.

    Returns flat (event, E, eta, phi) of the surviving towers.
    """
    n_reg = len(regions)
    region = np.full(eta.shape, -1, dtype=np.int64)
    ieta = np.zeros(eta.shape, dtype=np.int64)
    iphi = np.zeros(eta.shape, dtype=np.int64)
    two_pi = 2.0 * np.pi
    phi0 = np.mod(phi + np.pi, two_pi)
    for r, (lo, hi, deta, dphi_deg) in enumerate(regions):
        sel = (eta >= lo) & (eta < hi)
        region[sel] = r
        n_eta = int(np.ceil((hi - lo) / deta - 1e-9))
        ieta[sel] = np.minimum(((eta[sel] - lo) / deta).astype(np.int64), n_eta - 1)
        n_phi = int(round(360.0 / dphi_deg))
        iphi[sel] = np.minimum((phi0[sel] / np.deg2rad(dphi_deg)).astype(np.int64), n_phi - 1)
    inside = region >= 0
    event, energy = event[inside], energy[inside]
    region, ieta, iphi = region[inside], ieta[inside], iphi[inside]
    key = ((event * n_reg + region) * 1024 + ieta) * 512 + iphi
    ukey, inverse = np.unique(key, return_inverse=True)
    tower_e = np.bincount(inverse, weights=energy, minlength=len(ukey))
    t_iphi = ukey % 512
    t_ieta = (ukey // 512) % 1024
    t_region = (ukey // (512 * 1024)) % n_reg
    t_event = ukey // (512 * 1024 * n_reg)
    lo = np.array([r[0] for r in regions])[t_region]
    deta = np.array([r[2] for r in regions])[t_region]
    dphi = np.deg2rad(np.array([r[3] for r in regions]))[t_region]
    hi = np.array([r[1] for r in regions])[t_region]
    # SmearTowerCenter: uniform position inside the cell (cells clipped at the region edge)
    u = rng.random((2, len(ukey)))
    eta_lo = lo + t_ieta * deta
    eta_hi = np.minimum(eta_lo + deta, hi)
    t_eta = eta_lo + u[0] * (eta_hi - eta_lo)
    t_phi = (t_iphi + u[1]) * dphi - np.pi
    abseta = np.abs(t_eta)
    smeared = _lognormal(rng, tower_e, sigma_fn(tower_e, abseta))
    sigma = sigma_fn(smeared, abseta)
    keep = (smeared > e_min) & (smeared >= _SIGNIFICANCE_MIN * sigma)
    return t_event[keep], smeared[keep], t_eta[keep], t_phi[keep]


def apply_detector_response(px, py, pz, e, pid, charge, event, rng, *, return_kind=False):
    """Simulate the detector: Delphes-ATLAS-like energy-flow objects from final-state particles.

    This is the response that :func:`generate_jets` applies at
    ``level="detector"`` (the default).

    Parameters
    ----------
    px, py, pz, e : ndarray of shape (n_particles,)
        Four-momenta of the final-state particles of a batch of events (GeV).
    pid : ndarray of shape (n_particles,)
        PDG ids. Neutrinos are dropped here; other invisible particles (dark
        hadrons, dark-matter stand-ins) must be removed by the caller.
    charge : ndarray of shape (n_particles,)
        Electric charges (units of e).
    event : ndarray of int of shape (n_particles,)
        Event index of each particle (any order).
    rng : numpy.random.Generator
        Source of all randomness (efficiencies, smearing, tower centres).
    return_kind : bool, default=False
        Also return the object type: 0 track, 1 ECAL photon, 2 HCAL neutral hadron.

    Returns
    -------
    p4 : ndarray of shape (n_objects, 4)
        Energy-flow objects ``(E, px, py, pz)``, sorted by event index.
    event : ndarray of shape (n_objects,)
        Event index of each object.
    kind : ndarray of shape (n_objects,)
        Only with ``return_kind=True``.
    """
    px, py, pz, e = (np.asarray(a, dtype=np.float64) for a in (px, py, pz, e))
    pid = np.asarray(pid)
    charge = np.asarray(charge, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    abs_id = np.abs(pid)
    visible = ~np.isin(abs_id, _NEUTRINOS)
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), np.sign(pz) * 10.0)
    phi = np.arctan2(py, px)
    abseta = np.abs(eta)

    charged = visible & (charge != 0)
    tracked = charged & (rng.random(pt.shape) < _tracking_efficiency(abs_id, pt, abseta))
    # --- tracks: smeared pT, same direction and mass
    t_sel = np.flatnonzero(tracked)
    t_pt = pt[t_sel]
    sigma = _track_resolution(abs_id[t_sel], t_pt, abseta[t_sel]) * t_pt
    t_pt_s = _lognormal(rng, t_pt, sigma)
    scale = np.where(t_pt > 0, t_pt_s / np.where(t_pt > 0, t_pt, 1.0), 0.0)
    t_px, t_py, t_pz = px[t_sel] * scale, py[t_sel] * scale, pz[t_sel] * scale
    mass2 = np.maximum(e[t_sel] ** 2 - px[t_sel] ** 2 - py[t_sel] ** 2 - pz[t_sel] ** 2, 0.0)
    t_e = np.sqrt(t_px**2 + t_py**2 + t_pz**2 + mass2)
    t_p4 = np.stack([t_e, t_px, t_py, t_pz], axis=-1)
    t_event = event[t_sel]

    # --- calorimeter deposits: everything visible that is not tracked, except muons
    calo = visible & ~tracked & (abs_id != 13)
    ecal_frac = np.where((abs_id == 11) | (abs_id == 22), 1.0, 0.0)
    ecal_frac = np.where((abs_id == 310) | (abs_id == 3122), 0.3, ecal_frac)
    c_sel = np.flatnonzero(calo)
    c_e, c_eta, c_phi, c_event = e[c_sel], eta[c_sel], phi[c_sel], event[c_sel]
    frac = ecal_frac[c_sel]
    out_p4, out_event, out_kind = [t_p4], [t_event], [np.zeros(len(t_event), np.int8)]
    for code, fraction, regions, sigma_fn, e_min in (
        (1, frac, _ECAL_REGIONS, _ecal_sigma, _ECAL_E_MIN),
        (2, 1.0 - frac, _HCAL_REGIONS, _hcal_sigma, _HCAL_E_MIN),
    ):
        dep = fraction > 0
        ev, en, et, ph = _towers(c_event[dep], c_e[dep] * fraction[dep], c_eta[dep], c_phi[dep],
                                 regions, sigma_fn, e_min, rng)
        tpt = en / np.cosh(et)
        out_p4.append(np.stack([en, tpt * np.cos(ph), tpt * np.sin(ph), tpt * np.sinh(et)],
                               axis=-1))
        out_event.append(ev)
        out_kind.append(np.full(len(ev), code, np.int8))
    p4 = np.concatenate(out_p4)
    ev = np.concatenate(out_event)
    kind = np.concatenate(out_kind)
    order = np.argsort(ev, kind="stable")
    if return_kind:
        return p4[order], ev[order], kind[order]
    return p4[order], ev[order]


def detector_response(*args, **kwargs):
    """Deprecated alias of :func:`apply_detector_response`.

    .. deprecated:: 0.1
       ``detector_response`` will be removed in 0.2; use
       :func:`apply_detector_response`.
    """
    warnings.warn(
        "detector_response was deprecated in 0.1 and will be removed in 0.2; use "
        "jetad.datasets.apply_detector_response instead.",
        FutureWarning,
        stacklevel=2,
    )
    return apply_detector_response(*args, **kwargs)
