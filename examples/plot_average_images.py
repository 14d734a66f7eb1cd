"""
====================================
Average jet images: QCD versus top
====================================

Simulate a small sample of QCD and top jets, turn them into jet images with
:class:`~jetad.JetImager` (centre, rotate, flip, pixelate, normalise) and into
primary Lund planes with :class:`~jetad.LundPlane`, and plot the averages.

QCD jets are one hard prong with soft, collinear radiation around it; top jets
(t -> b W -> b q q') show three prongs: after the rotation and the flip the
hardest prong sits at the centre, the second one above it on the vertical
axis, and the third one off to the left. In the Lund plane the top jets
populate the wide-angle, high-kT corner (upper left).
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import tempfile

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from jetad import JetImager, LundPlane  # noqa: E402
from jetad.datasets import fetch_generated  # noqa: E402

# %%
# Data
# ----
# A few hundred jets per class keep the example fast; set
# ``JETAD_EXAMPLE_N_JETS`` for smoother averages. The samples are cached in
# ``JETAD_EXAMPLE_CACHE`` (a temporary folder by default).

n_jets = int(os.environ.get("JETAD_EXAMPLE_N_JETS", 300))
cache = os.environ.get("JETAD_EXAMPLE_CACHE") or tempfile.gettempdir()
samples = {}
for seed, kind in enumerate(("qcd", "top")):
    samples[kind], _ = fetch_generated(kind, n_jets, random_state=seed, cache_dir=cache,
                                       n_jobs=2, prefix="example_")
    print(f"{kind}: {samples[kind].shape}")

# %%
# Jet images and Lund planes
# --------------------------
# ``output_shape="image"`` returns ``(n_jets, 1, 40, 40)`` arrays; every jet
# image sums to one, the Lund planes count primary splittings.

imager = JetImager(output_shape="image")
lund = LundPlane(output_shape="image")
images = {kind: imager.transform(X)[:, 0].mean(axis=0) for kind, X in samples.items()}
planes = {kind: lund.transform(X)[:, 0].mean(axis=0) for kind, X in samples.items()}

# %%
# Plot
# ----
# ``imshow`` with its default ``origin="upper"`` shows JetImager images the
# usual way up (phi' increasing upwards) and Lund planes with ln kT upwards.

h, w = images["qcd"].shape
d_eta, d_phi = imager.pixel_size
img_extent = (-w / 2 * d_eta, w / 2 * d_eta, -h / 2 * d_phi, h / 2 * d_phi)
lund_extent = (*lund.ln_inv_delta_range, *lund.ln_kt_range)

fig, axes = plt.subplots(2, 2, figsize=(9, 8), constrained_layout=True)
img_norm = LogNorm(vmin=1e-5, vmax=max(v.max() for v in images.values()))
lund_norm = LogNorm(vmin=1e-3, vmax=max(v.max() for v in planes.values()))
for col, kind in enumerate(("qcd", "top")):
    ax = axes[0, col]
    im = ax.imshow(np.clip(images[kind], 1e-12, None), norm=img_norm, extent=img_extent,
                   cmap="viridis")
    ax.set(title=f"{kind.upper()} jets: average image ({n_jets} jets)",
           xlabel=r"$\eta'$", ylabel=r"$\phi'$")
    ax = axes[1, col]
    lm = ax.imshow(np.clip(planes[kind], 1e-12, None), norm=lund_norm, extent=lund_extent,
                   aspect="auto", cmap="magma")
    ax.set(title=f"{kind.upper()} jets: average primary Lund plane",
           xlabel=r"$\ln(1/\Delta R)$", ylabel=r"$\ln(k_T/\mathrm{GeV})$")
fig.colorbar(im, ax=axes[0], label="pixel pT fraction")
fig.colorbar(lm, ax=axes[1], label="splittings per jet per bin")

output = os.environ.get("JETAD_EXAMPLE_OUTPUT", "average_images.png")
fig.savefig(output, dpi=110)
print(f"saved {output}")
