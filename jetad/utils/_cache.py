import os


def get_cache_dir(cache_dir=None):
    """Folder where jetad caches generated samples.

    Resolution order: the ``cache_dir`` argument, the ``JETAD_CACHE``
    environment variable, ``$XDG_CACHE_HOME/jetad``, then ``~/.cache/jetad``.
    The folder is created if needed.

    Parameters
    ----------
    cache_dir : str or path-like or None

    Returns
    -------
    path : str
    """
    path = (
        cache_dir
        or os.environ.get("JETAD_CACHE")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "jetad")
    )
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    return path
