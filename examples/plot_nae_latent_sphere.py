"""
==========================================================
Normalized Autoencoder: the energy over the latent sphere
==========================================================

Train a :class:`~jetad.NAEDetector` on QCD jets and draw the energy
``E(f_D(z))`` of decoded latent points over the sphere ``S^2`` in an
equirectangular projection (longitude and latitude), before and after the NAE
phase, with the encoded QCD and top jets on top -- the plots of Fig. 2 of
arXiv:2206.14225. The sphere is rotated so that the mean direction of the
QCD jets sits at the centre of the map.

The schedule here is tiny (a few hundred jets, a few epochs) so the example
runs in a few minutes on a CPU; it shows the mechanics, not the paper's
landscapes. Set ``JETAD_EXAMPLE_N_JETS`` for more jets.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import tempfile

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jetad import JetImager, NAEDetector  # noqa: E402
from jetad.datasets import fetch_generated  # noqa: E402
from jetad.detectors import LangevinSampler  # noqa: E402
from jetad.plotting import latent_energy_map  # noqa: E402

# %%
# Data
# ----
n_jets = int(os.environ.get("JETAD_EXAMPLE_N_JETS", 400))
cache = os.environ.get("JETAD_EXAMPLE_CACHE") or tempfile.gettempdir()
imager = JetImager(gaussian_sigma=1.0)
images = {}
for seed, kind in enumerate(("qcd", "top")):
    jets, _ = fetch_generated(kind, n_jets, random_state=seed, cache_dir=cache, n_jobs=2,
                              prefix="example_")
    images[kind] = imager.transform(jets)

# %%
# Training
# --------
# ``keep_checkpoints=True`` stores the pre-trained state (iteration 0) and every
# NAE checkpoint, so both landscapes come from one fit.

det = NAEDetector(max_epochs=5, nae_iterations=20, nae_batch_size=32,
                  sampler=LangevinSampler(n_z_steps=5, n_x_steps=5), keep_checkpoints=True,
                  random_state=0, device="cpu")
det.fit(images["qcd"])

# %%
# Latent energy maps
# ------------------

fig, axes = plt.subplots(2, 1, figsize=(8, 8), constrained_layout=True)
for ax, (title, iteration) in zip(axes, (("after pre-training", 0),
                                         ("after NAE training", det.best_iteration_)), strict=True):
    det.load_checkpoint(iteration)
    emap = latent_energy_map(det, n_theta=45, n_phi=90, center=images["qcd"])
    mesh = ax.pcolormesh(np.degrees(emap.longitude), np.degrees(emap.latitude),
                         np.log10(emap.energy), shading="auto", cmap="viridis")
    for kind, color in (("qcd", "tab:blue"), ("top", "tab:orange")):
        lat, lon = emap.project(det.encode(images[kind][:200]))
        ax.scatter(np.degrees(lon), np.degrees(lat), s=4, c=color, label=kind)
    ax.set(title=f"{title} (iteration {iteration})", xlabel="longitude [deg]",
           ylabel="latitude [deg]")
    ax.legend(loc="lower right")
    fig.colorbar(mesh, ax=ax, label="log10 E(f_D(z))")
plt.show()
