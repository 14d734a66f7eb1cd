"""
Train on jets from a ROOT file
==============================

Your own jets usually live in ROOT files. This example writes a small ROOT file
with `uproot <https://uproot.readthedocs.io>`_ -- one entry per jet, the
constituents' pT, η, φ and energy as jagged branches, the truth label as a plain
branch -- reads it back with :func:`jetad.datasets.load_root`, trains an
autoencoder on the QCD jets only and tags the top jets as anomalies.

The same call reads Delphes trees (``layout="delphes"``: the jets' constituents
from ``Jet.Constituents`` or matched energy-flow objects); see the user guide's
page on bringing your own data. Needs the ``root`` extra
(``pip install "jetad[root]"``).
"""

# %%
# Write a ROOT file
# -----------------
# A few hundred generated jets stand in for the user's own sample; any file with
# jagged constituent branches works the same way.
import os
import tempfile

import awkward as ak
import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))

import numpy as np  # noqa: E402
import uproot  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from jetad import AEDetector, JetImager  # noqa: E402
from jetad.datasets import fetch_generated, load_root  # noqa: E402
from jetad.model_selection import evaluate_detector  # noqa: E402
from jetad.plotting import plot_roc_curves  # noqa: E402

cache = os.environ.get("JETAD_EXAMPLE_CACHE") or tempfile.gettempdir()
qcd, _ = fetch_generated("qcd", 400, random_state=1, cache_dir=cache, prefix="example_")
top, _ = fetch_generated("top", 200, random_state=2, cache_dir=cache, prefix="example_")
jets = np.concatenate([qcd, top])
labels = np.r_[np.zeros(len(qcd), dtype=np.int32), np.ones(len(top), dtype=np.int32)]


def jagged(values, present):
    """One list per jet, the zero padding of the constituent arrays left out."""
    counts = present.sum(axis=1)
    return ak.unflatten(values[present].astype(np.float32), counts)


energy, px, py, pz = np.moveaxis(jets, -1, 0)
present = energy > 0
pt = np.hypot(px, py)
eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
phi = np.arctan2(py, px)
path = os.path.join(tempfile.mkdtemp(), "my_jets.root")
with uproot.recreate(path) as f:
    f.mktree("jets", {"part_pt": jagged(pt, present), "part_eta": jagged(eta, present),
                      "part_phi": jagged(phi, present), "part_E": jagged(energy, present),
                      "is_top": labels},
             counter_name=lambda branch: "n_part")
print(uproot.open(path)["jets"].keys())

# %%
# Read it back and train on background only
# -----------------------------------------
# ``branches`` maps jetad's column names to the file's; the result is the padded
# ``(n_jets, n_constituents, 4)`` array of ``(E, px, py, pz)`` every transformer
# takes, and ``info["y"]`` holds the label branch.
X, info = load_root(path, tree="jets", layout="flat", label="is_top",
                    branches={"pt": "part_pt", "eta": "part_eta", "phi": "part_phi",
                              "E": "part_E"})
y = info["y"]
print(X.shape, "top jets:", int(y.sum()))

pipe = Pipeline([("image", JetImager(gaussian_sigma=1.0)),
                 ("ae", AEDetector(max_epochs=15, batch_size=32, lr=3e-3, random_state=0))])
is_qcd = np.flatnonzero(y == 0)
train, test_qcd = is_qcd[:300], is_qcd[300:]
test = np.r_[test_qcd, np.flatnonzero(y == 1)[:100]]
result = evaluate_detector(pipe, X[train], X[test], y[test])
bound = ">= " if result["rejection_bounded"] else ""  # no QCD jet passes: the 68% CL limit
print(f"AE, top as anomaly: AUC {result['auc']:.3f}, 1/eps_B(0.2) {bound}"
      f"{result['rejection']:.1f} ({result['n_background_pass']} of {result['n_background']} "
      "QCD jets pass)")

# %%
# The ROC curve, with its binomial band
# -------------------------------------
ax = plot_roc_curves({"AE": (y[test], -pipe.score_samples(X[test]))})
ax.set_title("AE trained on QCD jets read from a ROOT file")
