"""
==========================================================
Dirichlet-VAE: learned mixtures of QCD and top jet images
==========================================================

Train a :class:`~jetad.DVAEDetector` (arXiv:2104.08291, section 4), without
labels, on a mixed sample of QCD and top jet images and look at what it learns.

The DVAE's decoder is a single linear layer without bias followed by a softmax
over pixels, so each latent direction ``k`` owns one row of decoder weights,
and ``softmax(W_k)`` is a normalised image: the pixel distribution of a jet
made purely of mixture component ``k``. Each jet is encoded as mixture weights
``r`` on the simplex. With two components, one tends to describe the
one-prong QCD-like jets and the other the wider top-like jets, and the mixture
weight ``r_1`` separates the classes, although the model never saw a label.
With three components and a hierarchical prior ``alpha = (1, 0.25, 0.1)`` the
weights live on a triangle (a Gibbs or ternary plot).
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import tempfile

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))

import numpy as np  # noqa: E402

from jetad import DVAEDetector, JetImager  # noqa: E402
from jetad.datasets import fetch_generated, make_contaminated_sample  # noqa: E402
from jetad.metrics import anomaly_auc  # noqa: E402
from jetad.plotting import (  # noqa: E402
    plot_average_images,
    plot_gibbs_triangle,
    plot_latent_histograms,
    plot_mixture_components,
)

# %%
# Data
# ----
# A few hundred jets per class keep the example fast (set
# ``JETAD_EXAMPLE_N_JETS`` for more; the paper uses 100k). Samples are cached
# in ``JETAD_EXAMPLE_CACHE`` (a temporary folder by default).

n_jets = int(os.environ.get("JETAD_EXAMPLE_N_JETS", 300))
cache = os.environ.get("JETAD_EXAMPLE_CACHE") or tempfile.gettempdir()
images = {}
for seed, kind in enumerate(("qcd", "top")):
    jets, _ = fetch_generated(kind, n_jets, random_state=seed, cache_dir=cache, n_jobs=2,
                              prefix="example_")
    images[kind] = JetImager().transform(jets)

# A balanced sample (S/B = 1); ``y`` is kept only to colour the plots.
X, y = make_contaminated_sample(images["qcd"], images["top"], 1.0, random_state=0)
plot_average_images(X, y, labels={0: "QCD", 1: "top"})

# %%
# Two mixture components
# ----------------------
# ``alpha = (1, 1)`` is the paper's prior for a balanced sample.

dvae = DVAEDetector(alpha=(1, 1), max_epochs=30, random_state=0, device="cpu").fit(X)
plot_mixture_components(dvae)

# %%
# The mixture weight of component 1 per jet. Which component describes the
# tops is decided by training, not by labels; the AUC below is reported as the
# detector gives it (an AUC below 0.5 means component 0 took the tops).
r = dvae.encode(X)
print(f"AUC of r_1 for top jets: {anomaly_auc(y, r[:, 1]):.3f}")
plot_latent_histograms(r, y, component=1, labels={0: "QCD", 1: "top"}, range=(0, 1),
                       xlabel="mixture weight $r_1$")

# %%
# Three components on a Gibbs triangle
# ------------------------------------
# A hierarchical prior orders the components by prevalence; the default
# anomaly score of the detector is the weight of the least prevalent one.

dvae3 = DVAEDetector(alpha=(1, 0.25, 0.1), max_epochs=30, random_state=0, device="cpu").fit(X)
plot_mixture_components(dvae3)
plot_gibbs_triangle(dvae3.encode(X), y, labels={0: "QCD", 1: "top"})
print("mean mixture weights:", np.round(dvae3.encode(X).mean(axis=0), 3))
