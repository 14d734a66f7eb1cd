"""Dark-jet samples: the public Heidelberg card, its decay table, truth matching of dark kinds."""

import numpy as np
import pytest

from jetad.datasets import default_card
from jetad.datasets._cards import pythia_settings, resolve_card
from jetad.datasets._truth import dark_quarks, match_rule, matching_summary

DARK_KINDS = ("aachen", "heidelberg", "zprime_dark_light")


def _n_const(X):
    return (X[:, :, 0] > 0).sum(axis=1)


# --------------------------------------------------------------------------- card


def test_heidelberg_card_defining_settings():
    """The settings of bmdillon/pythia-dark-jets cards/dark-jets-sig-q50m10-low-pt.cmnd."""
    s = pythia_settings(resolve_card("heidelberg"))
    for line in (
        "Beams:eCM = 14000.0", "HardQCD:all = off",
        "HiddenValley:gg2DvDvbar = on", "HiddenValley:gg2UvUvbar = on",
        "HiddenValley:qqbar2DvDvbar = on", "HiddenValley:qqbar2UvUvbar = on",
        "HiddenValley:Ngauge = 3", "4900001:m0 = 50.0", "4900002:m0 = 50.0",
        "4900101:m0 = 5.0", "4900111:m0 = 10.0", "4900113:m0 = 10.0",
        "4900111:onMode = on", "4900113:onMode = on",
        "4900003:onMode = off", "4900004:onMode = off",
        "HiddenValley:doKinMix = on", "HiddenValley:fragment = on", "HiddenValley:FSR = on",
        "PhaseSpace:pTHatMin = 100.0", "PartonLevel:MPI = off",
        "PartonLevel:ISR = on", "PartonLevel:FSR = on",
    ):
        assert line in s, line
    # no pT-hat ceiling, no Z', no forced meson decays
    assert not any(c.startswith(("PhaseSpace:pTHatMax", "HiddenValley:ffbar2Zv", "4900023"))
                   for c in s)
    assert not any("oneChannel" in c or "mayDecay" in c for c in s)
    card = default_card("heidelberg")
    assert card["process"] == "hv_pair" and card["match_r"] == 0.8
    assert (card["pt_min"], card["pt_max"], card["eta_max"]) == (150.0, 300.0, 2.0)
    # a pT-hat ceiling below sqrt(s)/2 is written
    assert "PhaseSpace:pTHatMax = 400.0" in pythia_settings(
        resolve_card("heidelberg", {"pthat_max": 400.0}))
    assert "HiddenValley:doKinMix = off" in pythia_settings(
        resolve_card("heidelberg", {"kinetic_mixing": False}))


def test_old_heidelberg_model_kept_as_zprime_dark_light():
    s = pythia_settings(resolve_card("zprime_dark_light"))
    assert "HiddenValley:ffbar2Zv = on" in s and "4900023:m0 = 500.0" in s
    assert "4900211:mayDecay = on" in s and "4900111:oneChannel = 1 0.5 91 1 -1" in s


def test_hv_pair_card_errors():
    with pytest.raises(ValueError, match="m_fv must exceed m_q_dark"):
        resolve_card("heidelberg", {"m_fv": 4.0})
    with pytest.raises(ValueError, match="must be positive"):
        resolve_card("heidelberg", {"m_pi_dark": 0.0})
    with pytest.raises(ValueError, match="n_colors"):
        resolve_card("heidelberg", {"n_colors": 1})
    with pytest.raises(ValueError, match="match_r"):
        resolve_card("aachen", {"match_r": 0.0})
    with pytest.raises(TypeError, match="must be a bool"):
        resolve_card("heidelberg", {"kinetic_mixing": 1})


def test_decay_table_is_what_the_card_intends():
    """pythia8mc 8.317 rejects the card's ``4900001:N:onMode`` lines (N >= 1): there is one
    F_v channel only, and it is the card's F_v -> q q_v. The dark mesons decay (Pythia ships
    their channels off; the card's ``onMode = on`` turns them on), pi_v mostly to b bbar."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("awkward")
    from jetad.datasets import _events

    card = resolve_card("heidelberg")
    py = _events._make_pythia(card, seed=3)
    for line in ("4900001:1:onMode = on", "4900001:3:onMode = off", "4900002:10:onMode = off",
                 "4900001:4900101:onMode = on"):
        assert not py.readString(line), line

    pd = py.particleData
    for fv, q in ((4900001, 1), (4900002, 2)):
        entry = pd.particleDataEntryPtr(fv)
        assert entry.m0() == 50.0 and entry.sizeChannels() == 1
        ch = entry.channel(0)
        assert ch.onMode() == 1 and ch.bRatio() == pytest.approx(1.0)
        assert sorted(ch.product(j) for j in range(ch.multiplicity())) == [q, 4900101]
    assert pd.m0(4900101) == 5.0
    for meson in (4900111, 4900113):
        entry = pd.particleDataEntryPtr(meson)
        assert entry.m0() == 10.0 and entry.mayDecay()
        chans = [entry.channel(i) for i in range(entry.sizeChannels())]
        assert all(ch.onMode() == 1 and ch.meMode() == 91 for ch in chans)
        assert sum(ch.bRatio() for ch in chans) == pytest.approx(1.0, abs=1e-3)
    pi_v = pd.particleDataEntryPtr(4900111)
    bb = [pi_v.channel(i).bRatio() for i in range(pi_v.sizeChannels())
          if pi_v.channel(i).product(0) == 5]
    assert bb[0] > 0.8

    # a few events: F_v -> q q_v happens, and no dark meson survives to the final state
    rec, event, offsets = _events._flat_event_record(py.nextBatch(20, errorMode="skip"))
    pid, status = np.abs(rec["id"]), rec["status"]
    q_v = np.flatnonzero((pid == 4900101) & (np.abs(status) == 23))
    mothers = pid[offsets[event[q_v]] + rec["mother1"][q_v]]
    assert len(q_v) >= 20 and np.isin(mothers, [4900001, 4900002]).all()
    mesons = np.isin(pid, [4900111, 4900113])
    assert mesons.sum() > 50 and not (mesons & (status > 0)).any()


# --------------------------------------------------------------------------- matching


def test_dark_quarks_from_a_flat_record():
    rec = {
        "id": np.array([2212, 4900101, -4900101, 4900101, 1, 4900101, -4900101]),
        "status": np.array([-12, -23, -23, -52, 23, 23, -23]),
        "e": np.arange(7.0) + 10, "px": np.arange(7.0), "py": np.ones(7), "pz": np.zeros(7),
    }
    event = np.array([0, 0, 0, 0, 2, 2, 2])
    out = dark_quarks(rec, event, 3)
    assert out.shape == (3, 2, 4)
    assert np.array_equal(out[0, :, 1], [1.0, 2.0])  # status 23 copies only
    assert np.all(out[1] == 0)  # no dark quark: never matches
    assert np.array_equal(out[2, :, 1], [5.0, 6.0])


def test_match_rule_and_summary():
    assert match_rule(default_card("qcd_lowpt")) is None
    assert "top" in match_rule(default_card("top"))
    for kind in DARK_KINDS:
        rule = match_rule(default_card(kind))
        assert "4900101" in rule and "0.8" in rule
    card = default_card("aachen")
    summary = matching_summary(card, [{"n_jets": 8, "n_unmatched": 2},
                                      {"n_jets": 10, "n_unmatched": 0}])
    assert summary["n_in_window"] == 20 and summary["failed_fraction"] == pytest.approx(0.1)
    old = matching_summary(card, [{"n_jets": 8}])
    assert old["failed_fraction"] is None and old["rule"] == match_rule(card)
    assert matching_summary(default_card("qcd"), [{"n_jets": 3}]) is None


@pytest.mark.slow
def test_dark_kinds_record_their_matching():
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import generate_jets

    for kind in ("aachen", "zprime_dark_light", "qcd_lowpt"):
        _, info = generate_jets(kind, 40, random_state=4, progress=False, return_info=True,
                                chunk_size=20)
        tm = info["truth_matching"]
        if kind == "qcd_lowpt":
            assert tm is None
            continue
        assert tm["rule"] == match_rule(info["card"]) and tm["match_r"] == 0.8
        assert 0.0 <= tm["failed_fraction"] <= 1.0
        assert tm["n_in_window"] == 40 + tm["n_failed"]
        assert sum(c["n_unmatched"] for c in info["chunks"]) == tm["n_failed"]


@pytest.fixture(scope="module")
def heidelberg_and_qcd():
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import generate_jets

    n = 300
    Xh, info = generate_jets("heidelberg", n, random_state=13, progress=False,
                             return_info=True)
    Xq = generate_jets("qcd_lowpt", n, random_state=14, progress=False)
    return Xh, info, Xq


@pytest.mark.slow
def test_heidelberg_matching_recorded(heidelberg_and_qcd):
    _, info, _ = heidelberg_and_qcd
    tm = info["truth_matching"]
    assert "F_v -> q q_v" in tm["rule"] and "4900101" in tm["rule"]
    # about a quarter of the jets in the window miss the dark quark
    assert 0.05 < tm["failed_fraction"] < 0.5
    assert 0.05 < info["selection_efficiency"] < 0.5


@pytest.mark.slow
def test_heidelberg_is_not_trivially_separable(heidelberg_and_qcd):
    """The Z' shower with light-quark mesons gave AUC 0.84 for -mean(x^2) alone and
    <n_const> 51; the card's jets: about 0.6 and 36 (QCD 33)."""
    from sklearn.metrics import roc_auc_score

    from jetad import JetImager
    from jetad.metrics import image_concentration

    Xh, _, Xq = heidelberg_and_qcd
    imager = JetImager()
    score = np.r_[-image_concentration(imager.transform(Xq)),
                  -image_concentration(imager.transform(Xh))]
    y = np.r_[np.zeros(len(Xq)), np.ones(len(Xh))]
    auc = roc_auc_score(y, score)
    print(f"AUC(-mean(x^2)) heidelberg vs qcd_lowpt: {auc:.3f}; <n_const> heidelberg "
          f"{_n_const(Xh).mean():.1f}, qcd_lowpt {_n_const(Xq).mean():.1f}")
    assert 0.45 < auc < 0.75
    assert 32.0 < _n_const(Xh).mean() < 42.0
    assert _n_const(Xq).mean() < _n_const(Xh).mean()
