"""Geometry of a 3-D latent sphere for plots: the energy map of a fitted NAE (Fig. 2)."""

import numbers

import numpy as np

__all__ = ["latent_energy_map"]


def _rotation_to_x(d):
    """Orthogonal matrix mapping the direction ``d`` onto ``(1, 0, 0)``."""
    d = np.asarray(d, dtype=np.float64)
    norm = np.linalg.norm(d)
    if not np.isfinite(norm) or norm == 0:
        return np.eye(3)
    a = d / norm
    b = np.array([1.0, 0.0, 0.0])
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([-1.0, -1.0, 1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1.0 / (1.0 + c))


def _decoded_energies(detector, z):
    """Raw energy ``E(f_D(z))`` of decoded latent points, in scoring batches."""
    import torch

    module = detector.net_.module_
    module.eval()
    device = next(module.parameters()).device
    batch = detector._score_batch_size
    energies = []
    with torch.no_grad():
        for start in range(0, z.shape[0], batch):
            zb = torch.as_tensor(z[start:start + batch], dtype=torch.float32, device=device)
            energies.append(module.energy(module.decode(zb)).double().cpu().numpy())
    return np.concatenate(energies)


def latent_energy_map(detector, n_theta=90, n_phi=180, center=None):
    """Energy of decoded latent points on an equirectangular grid of ``S^2`` (Fig. 2).

    Parameters
    ----------
    detector : NAEDetector
        Fitted, with ``latent_dim=3``.
    n_theta : int, default=90
        Number of latitudes in ``(-pi/2, pi/2)`` (cell centres).
    n_phi : int, default=180
        Number of longitudes in ``(-pi, pi)`` (cell centres).
    center : array-like or None, default=None
        Rotate the sphere so that this point lies at latitude = longitude
        = 0: a latent 3-vector, or jet images whose mean latent direction
        is used (the paper centres on the region with most jets).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``energy`` (n_theta, n_phi) raw energy ``E(f_D(z))``, ``latitude``
        (n_theta,), ``longitude`` (n_phi,), ``rotation`` (3, 3) with
        ``z_map = z @ rotation.T``, and ``project(z)`` returning
        ``(latitude, longitude)`` of latent points in the same map.
    """
    from sklearn.utils import Bunch
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(detector)
    if detector.latent_dim != 3:
        raise ValueError(f"latent_energy_map needs latent_dim=3, got {detector.latent_dim}")
    for name, v in (("n_theta", n_theta), ("n_phi", n_phi)):
        if not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    rotation = np.eye(3)
    if center is not None:
        c = np.asarray(center, dtype=np.float64)
        direction = c if c.ndim == 1 and c.shape[0] == 3 else (
            detector.encode(center).mean(axis=0))
        rotation = _rotation_to_x(direction)
    lat = (np.arange(n_theta) + 0.5) / n_theta * np.pi - np.pi / 2
    lon = (np.arange(n_phi) + 0.5) / n_phi * 2 * np.pi - np.pi
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    zmap = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    z = zmap.reshape(-1, 3) @ rotation  # back to model coordinates (rotation is orthogonal)
    energy = _decoded_energies(detector, z).reshape(n_theta, n_phi)

    def project(zz):
        zz = np.asarray(zz, dtype=np.float64) @ rotation.T
        zz = zz / np.linalg.norm(zz, axis=1, keepdims=True)
        return np.arcsin(np.clip(zz[:, 2], -1, 1)), np.arctan2(zz[:, 1], zz[:, 0])

    return Bunch(energy=energy, latitude=lat, longitude=lon, rotation=rotation,
                 project=project)
