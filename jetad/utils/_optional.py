import importlib

_EXTRA_OF = {
    "pythia8mc": "generate",
    "fastjet": "generate",
    "vector": "generate",
    "dask": "distributed",
    "distributed": "distributed",
    "pandas": "all",
    "tables": "all",
    "uproot": "root",
    "mplhep": "plot",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
}


def import_optional(module_name, extra=None):
    """Import an optional dependency or fail with a message naming the extra.

    Parameters
    ----------
    module_name : str
        Module to import, e.g. ``"pythia8mc"``.
    extra : str, optional
        Name of the jetad extra that installs it; guessed from the module name.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        Naming the ``pip install "jetad[extra]"`` command that provides the module.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        extra = extra or _EXTRA_OF.get(module_name.split(".")[0], "all")
        raise ImportError(
            f"{module_name} is required for this feature but is not installed; "
            f'install it with: pip install "jetad[{extra}]"'
        ) from exc
