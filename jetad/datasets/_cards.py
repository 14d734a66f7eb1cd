"""Pythia 8 settings and jet selections for every jet kind.

A *card* is a plain dict of parameters (all JSON-serialisable). It is resolved
once from the per-kind defaults below plus the user's ``**card_overrides``;
:func:`pythia_settings` turns it into the list of ``readString`` commands.
The resolved card is stored with every generated sample, so a file documents
exactly how it was made. See ``docs/generation_cards.md`` for the physics
reasoning behind the dark-shower parameters.
"""

import copy
import numbers

__all__ = ["KINDS", "default_card", "resolve_card", "pythia_settings"]

_COMMON = {
    "ecm": 14000.0,  # GeV, centre-of-mass energy
    "mpi": False,  # multiple parton interactions (reference top-tagging set: off)
    "jet_r": 0.8,  # anti-kT radius
    "eta_max": 2.0,  # |eta| of the leading jet
    "n_constituents": 200,  # stored constituents per jet (pT-ordered, zero-padded)
    "extra_settings": [],  # raw Pythia commands appended after everything else
}

_HIGH_PT = {"pt_min": 550.0, "pt_max": 650.0, "pthat_min": 450.0, "pthat_max": 750.0}
_LOW_PT = {"pt_min": 150.0, "pt_max": 300.0}

# Hidden Valley dark-shower parameters shared by the two dark kinds.
_HV_COMMON = {
    "process": "hidden_valley",
    "n_colors": 3,  # dark SU(N_c)
    "n_flavors": 2,  # dark quark flavours
    "prob_vector": 0.75,  # fraction of spin-1 dark mesons in the dark hadronisation
}

_DEFAULTS = {
    "qcd": {**_COMMON, **_HIGH_PT, "process": "qcd"},
    "top": {**_COMMON, **_HIGH_PT, "process": "ttbar", "match_r": 0.8},
    "qcd_lowpt": {**_COMMON, **_LOW_PT, "process": "qcd", "pthat_min": 100.0,
                  "pthat_max": 400.0},
    # Semi-visible dark jets: stable (invisible) dark pions and off-diagonal
    # dark rhos, only the flavour-diagonal dark rho decays back to SM quarks;
    # invisible fraction r_inv = 1 - prob_vector / n_flavors = 0.75. The Z' is
    # heavier than for the fully visible kind because only ~25 % of the dark
    # jet's momentum is visible.
    "aachen": {**_COMMON, **_LOW_PT, **_HV_COMMON, "prob_vector": 0.5,
               "mzprime": 1000.0, "lambda_dark": 5.0, "m_pi_dark": 4.0, "m_rho_dark": 5.0,
               "pi_diag_visible": False, "rho_diag_visible": True,
               "offdiag_visible": False, "match_r": 0.8},
    # The public Heidelberg card "Q50M10" (bmdillon/pythia-dark-jets,
    # cards/dark-jets-sig-q50m10-low-pt.cmnd): pair-produced 50 GeV F_v, each
    # decaying to q + q_v inside the jet; the q_v shower hadronises into 10 GeV
    # dark mesons that decay with Pythia's default tables (pi_v mostly b bbar).
    # pthat_max = ecm / 2: no upper cut, as in the card.
    "heidelberg": {**_COMMON, **_LOW_PT, "process": "hv_pair", "n_colors": 3,
                   "m_fv": 50.0, "m_q_dark": 5.0, "m_pi_dark": 10.0, "m_rho_dark": 10.0,
                   "kinetic_mixing": True, "pthat_min": 100.0, "pthat_max": 7000.0,
                   "match_r": 0.8},
    # Z' -> q_v q_v-bar showers with every dark meson forced to light quarks
    # (fully visible, denser than QCD); jetad's "heidelberg" before the public
    # card was used. Not a model of any paper.
    "zprime_dark_light": {**_COMMON, **_LOW_PT, **_HV_COMMON,
                          "mzprime": 500.0, "lambda_dark": 10.0, "m_pi_dark": 10.0,
                          "m_rho_dark": 12.0, "pi_diag_visible": True,
                          "rho_diag_visible": True, "offdiag_visible": True, "match_r": 0.8},
}

KINDS = tuple(_DEFAULTS)


def default_card(kind):
    """Default generation parameters of a jet kind.

    Parameters
    ----------
    kind : {"qcd", "top", "qcd_lowpt", "aachen", "heidelberg", "zprime_dark_light"}

    Returns
    -------
    card : dict
        A fresh copy of the defaults (safe to modify).
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, got {type(kind).__name__}")
    if kind not in _DEFAULTS:
        raise ValueError(f"Unknown jet kind {kind!r}; choose one of {list(KINDS)}")
    return copy.deepcopy(_DEFAULTS[kind])


def resolve_card(kind, overrides=None):
    """Defaults of ``kind`` updated with ``overrides``, validated.

    Parameters
    ----------
    kind : str
        Jet kind, see :func:`default_card`.
    overrides : dict, optional
        Parameter values replacing the defaults. Unknown names raise a
        ``TypeError`` that lists the valid ones.

    Returns
    -------
    card : dict
    """
    card = default_card(kind)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(card))
    if unknown:
        raise TypeError(
            f"Unknown generation parameter(s) {unknown} for kind {kind!r}; valid ones are "
            f"{sorted(card)}"
        )
    for key, value in overrides.items():
        default = card[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError(f"{key} must be a bool, got {value!r}")
        elif isinstance(default, numbers.Real):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{key} must be a number, got {value!r}")
            value = type(default)(value)
        elif isinstance(default, list):
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{key} must be a list of Pythia command strings, got {value!r}")
            value = list(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise TypeError(f"{key} must be a string, got {value!r}")
        card[key] = value
    _validate(kind, card)
    return card


def _validate(kind, card):
    if not 0 <= card["pt_min"] < card["pt_max"]:
        raise ValueError(f"need 0 <= pt_min < pt_max, got {card['pt_min']}, {card['pt_max']}")
    for key in ("eta_max", "jet_r", "ecm"):
        if card[key] <= 0:
            raise ValueError(f"{key} must be positive, got {card[key]}")
    if card["n_constituents"] < 1:
        raise ValueError(f"n_constituents must be >= 1, got {card['n_constituents']}")
    if "pthat_min" in card and not 0 <= card["pthat_min"] < card["pthat_max"]:
        raise ValueError(
            f"need 0 <= pthat_min < pthat_max, got {card['pthat_min']}, {card['pthat_max']}"
        )
    if card["process"] == "hidden_valley":
        if not card["m_pi_dark"] <= card["m_rho_dark"]:
            raise ValueError("m_pi_dark must not exceed m_rho_dark")
        if min(card["m_pi_dark"], card["lambda_dark"], card["mzprime"]) <= 0:
            raise ValueError("dark masses, lambda_dark and mzprime must be positive")
        if card["n_colors"] < 2 or card["n_flavors"] < 1:
            raise ValueError("need n_colors >= 2 and n_flavors >= 1")
        if not 0 <= card["prob_vector"] <= 1:
            raise ValueError(f"prob_vector must be in [0, 1], got {card['prob_vector']}")
    elif card["process"] == "hv_pair":
        _validate_hv_pair(card)
    if "match_r" in card and not card["match_r"] > 0:
        raise ValueError(f"match_r must be positive, got {card['match_r']}")


def _validate_hv_pair(card):
    if min(card["m_q_dark"], card["m_pi_dark"], card["m_rho_dark"]) <= 0:
        raise ValueError("m_q_dark, m_pi_dark and m_rho_dark must be positive")
    if not card["m_fv"] > card["m_q_dark"]:
        raise ValueError(
            f"m_fv must exceed m_q_dark (F_v -> q q_v), got {card['m_fv']}, {card['m_q_dark']}"
        )
    if card["n_colors"] < 2:
        raise ValueError(f"need n_colors >= 2, got {card['n_colors']}")


def _fmt(x):
    return repr(float(x))


def pythia_settings(card, seed=None):
    """Pythia ``readString`` commands for a resolved card.

    Parameters
    ----------
    card : dict
        Output of :func:`resolve_card`.
    seed : int, optional
        Pythia random seed in ``[1, 900000000]``.

    Returns
    -------
    settings : list of str
    """
    commands = [
        f"Beams:eCM = {_fmt(card['ecm'])}",
        f"PartonLevel:MPI = {'on' if card['mpi'] else 'off'}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
    ]
    if seed is not None:
        commands += ["Random:setSeed = on", f"Random:seed = {int(seed)}"]
    process = card["process"]
    if process == "qcd":
        commands += ["HardQCD:all = on"]
    elif process == "ttbar":
        commands += ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
                     "24:onMode = off", "24:onIfAny = 1 2 3 4 5"]
    elif process == "hidden_valley":
        commands += _hidden_valley_settings(card)
    elif process == "hv_pair":
        commands += _hv_pair_settings(card)
    else:  # pragma: no cover - guarded by resolve_card
        raise ValueError(f"unknown process {process!r}")
    if process in ("qcd", "ttbar"):
        commands += [f"PhaseSpace:pTHatMin = {_fmt(card['pthat_min'])}",
                     f"PhaseSpace:pTHatMax = {_fmt(card['pthat_max'])}"]
    commands += list(card["extra_settings"])
    return commands


def _hidden_valley_settings(card):
    """Z' -> q_v q_v-bar dark shower in Pythia's Hidden Valley module.

    Constituent dark-quark mass from the relation in Pythia's manual,
    ``2 m_q = (3 m_rho + m_pi) / 4``. Dark mesons that are "visible" decay to a
    light ``q qbar`` pair with ``meMode = 91`` (showered and hadronised);
    the others are stable and invisible (dark matter).
    """
    mz, lam = card["mzprime"], card["lambda_dark"]
    m_pi, m_rho = card["m_pi_dark"], card["m_rho_dark"]
    m_q = (3.0 * m_rho + m_pi) / 8.0
    commands = [
        "HiddenValley:ffbar2Zv = on",
        f"4900023:m0 = {_fmt(mz)}", f"4900023:mWidth = {_fmt(0.01 * mz)}",
        f"4900023:mMin = {_fmt(0.9 * mz)}", f"4900023:mMax = {_fmt(1.1 * mz)}",
        "4900023:onMode = off", "4900023:onIfAny = 4900101",
        f"HiddenValley:Ngauge = {int(card['n_colors'])}",
        f"HiddenValley:nFlav = {int(card['n_flavors'])}",
        "HiddenValley:spinFv = 0", "HiddenValley:FSR = on", "HiddenValley:fragment = on",
        "HiddenValley:alphaOrder = 1", "HiddenValley:setLambda = on",
        f"HiddenValley:Lambda = {_fmt(lam)}",
        f"HiddenValley:pTminFSR = {_fmt(1.1 * lam)}",
        f"HiddenValley:probVector = {_fmt(card['prob_vector'])}",
        f"4900101:m0 = {_fmt(m_q)}",
        f"4900111:m0 = {_fmt(m_pi)}", f"4900211:m0 = {_fmt(m_pi)}",
        f"4900113:m0 = {_fmt(m_rho)}", f"4900213:m0 = {_fmt(m_rho)}",
    ]
    visible = {4900111: card["pi_diag_visible"], 4900113: card["rho_diag_visible"],
               4900211: card["offdiag_visible"], 4900213: card["offdiag_visible"]}
    for pid, vis in visible.items():
        if vis:
            commands += [f"{pid}:mayDecay = on", f"{pid}:oneChannel = 1 0.5 91 1 -1",
                         f"{pid}:addChannel = 1 0.5 91 2 -2"]
        else:
            commands += [f"{pid}:mayDecay = off"]
    return commands


def _hv_pair_settings(card):
    """Pair production of Hidden-Valley F_v (the public Heidelberg card).

    ``D_v`` / ``U_v`` (4900001 / 4900002) are produced in pairs from gg and
    q qbar and decay, with Pythia's only channel, to ``q + q_v`` (4900101).
    Dark mesons 4900111 / 4900113 decay with Pythia's default tables, which the
    card switches on. The card's ``4900001:N:onMode`` lines for channels that do
    not exist (N >= 1, and ``4900001:4900101:onMode``) are left out: ``readString``
    rejects them, and the only channel, 0, is on.
    """
    commands = [
        "HardQCD:all = off",
        "HiddenValley:gg2DvDvbar = on", "HiddenValley:gg2UvUvbar = on",
        "HiddenValley:qqbar2DvDvbar = on", "HiddenValley:qqbar2UvUvbar = on",
        f"HiddenValley:Ngauge = {int(card['n_colors'])}",
        f"4900001:m0 = {_fmt(card['m_fv'])}", f"4900002:m0 = {_fmt(card['m_fv'])}",
        f"4900101:m0 = {_fmt(card['m_q_dark'])}",
        f"4900111:m0 = {_fmt(card['m_pi_dark'])}", f"4900113:m0 = {_fmt(card['m_rho_dark'])}",
        # Pythia ships the dark-meson channels switched off: these two lines make
        # pi_v and rho_v decay back to SM particles.
        "4900111:onMode = on", "4900113:onMode = on",
        "4900022:onMode = on", "4900101:onMode = on", "4900991:onMode = on",
        "4900001:onMode = on", "4900002:onMode = on",
        "4900001:0:onMode = on", "4900002:0:onMode = on",
        "4900003:onMode = off", "4900004:onMode = off",
        f"HiddenValley:doKinMix = {'on' if card['kinetic_mixing'] else 'off'}",
        "HiddenValley:fragment = on", "HiddenValley:FSR = on",
        "PartonLevel:ISR = on", "PartonLevel:FSR = on",
        f"PhaseSpace:pTHatMin = {_fmt(card['pthat_min'])}",
    ]
    if card["pthat_max"] < 0.5 * card["ecm"]:
        commands.append(f"PhaseSpace:pTHatMax = {_fmt(card['pthat_max'])}")
    return commands
