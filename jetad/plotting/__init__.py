"""Plots of jet images, latent spaces and ROC curves (matplotlib, imported lazily).

Every function draws on a given ``ax`` (or creates a figure with
``matplotlib.pyplot.subplots``, so that notebooks and sphinx-gallery pick it up;
headless, matplotlib falls back to the Agg backend) and returns it:
single-panel plots return the ``Axes``, multi-panel plots the ``Figure``.
``import jetad.plotting`` does not import matplotlib; the first plot does.


:func:`latent_energy_map` computes (without matplotlib) the energy map of a
fitted NAE's 3-D latent sphere, for ``imshow``-style plots.
"""

from ._latent_sphere import latent_energy_map
from ._plots import (
    plot_average_images,
    plot_gibbs_triangle,
    plot_latent_histograms,
    plot_mixture_components,
    plot_roc_curves,
    plot_sic,
)

__all__ = [
    "latent_energy_map",
    "plot_average_images",
    "plot_gibbs_triangle",
    "plot_latent_histograms",
    "plot_mixture_components",
    "plot_roc_curves",
    "plot_sic",
]
