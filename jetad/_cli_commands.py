"""The work of the ``jetad`` sub-commands; the parser and error handling are in :mod:`jetad.cli`.

Every ``run_*`` function takes the parsed arguments, prints one summary line
and returns the exit status (0). Failures raise; :func:`jetad.cli.main` turns
them into one ``jetad: error:`` line and exit status 1.
"""

import json
import os

import numpy as np

#: Short detector names of ``jetad train --detector`` and of the config's ``"detector"``.
DETECTORS = {"AE": "AEDetector", "VAE": "VAEDetector", "GMVAE": "GMVAEDetector",
             "DVAE": "DVAEDetector", "NAE": "NAEDetector"}
#: ``--preprocess`` choices and their transformers.
PREPROCESSORS = {"image": "JetImager", "lund": "LundPlane"}
CONFIG_KEYS = ("detector", "params", "preprocess", "imager")
DEFAULT_DETECTOR = "NAE"
DEFAULT_PREPROCESS = "image"
SCORE_SUFFIXES = (".h5", ".hdf5", ".csv")
MODEL_DIR, SCORE_DIR, DATA_DIR = "jetad-models", "jetad-scores", "jetad-data"
BENCHMARK_DIR = "jetad-benchmark"
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
#: Jets imaged and scored at a time by ``jetad score`` (bounds the memory of the images).
SCORE_BATCH = 10_000


def _stem(path):
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


# --------------------------------------------------------------------------- input


def input_format(path, fmt):
    """``"hdf5"`` or ``"root"``: ``fmt``, or guessed from the suffix for ``"auto"``."""
    if fmt != "auto":
        return fmt
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix == ".root":
        return "root"
    if suffix in _HDF5_SUFFIXES:
        return "hdf5"
    raise ValueError(f"cannot tell the format of {path!r} from its suffix {suffix!r}; "
                     f"pass --format hdf5 or --format root")


def load_input(args):
    """Jets ``(n, n_constituents, 4)`` and info of ``args.input`` (a jetad HDF5 or ROOT file)."""
    from jetad.datasets import load_jets, load_root

    path = args.input
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such input file: {path!r}")
    if input_format(path, args.format) == "root":
        return load_root(path, tree=args.tree, layout=args.layout, branches=args.branches,
                         n_constituents=args.n_constituents, max_jets=args.max_jets,
                         jet_index=args.jet_index, label=args.label)
    if args.label is not None:
        raise ValueError("--label names a ROOT branch; HDF5 jet files carry their labels "
                         "(dataset 'y')")
    X, info = load_jets(path)
    if args.max_jets is not None and len(X) > args.max_jets:
        X = X[:args.max_jets]
        if "y" in info:
            info["y"] = info["y"][:args.max_jets]
    return X, info


# --------------------------------------------------------------------------- train


def read_config(path):
    """The model description of a ``--config`` JSON file, checked."""
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such config file: {path!r}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"config {path!r} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"config {path!r} must hold a JSON object with keys "
                         f"{list(CONFIG_KEYS)}, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"config {path!r}: unknown keys {unknown}; known keys are "
                         f"{list(CONFIG_KEYS)}")
    for key in ("params", "imager"):
        if not isinstance(config.get(key, {}), dict):
            raise ValueError(f"config {path!r}: {key!r} must be a JSON object of parameters, "
                             f"got {config[key]!r}")
    for key, choices in (("detector", DETECTORS), ("preprocess", PREPROCESSORS)):
        if key in config and config[key] not in choices:
            raise ValueError(f"config {path!r}: unknown {key} {config[key]!r}; choose one of "
                             f"{list(choices)}")
    return config


def build_model(config, args):
    """``Pipeline([("preprocess", transformer), ("detector", detector)])``, unfitted.

    The flags win over the config: ``--detector`` and ``--preprocess`` over its
    ``"detector"`` and ``"preprocess"``, ``--param`` / ``--preprocess-param``
    over its ``"params"`` / ``"imager"``. Parameters go through ``set_params``,
    so nested ones (``sampler__n_x_steps``) work as in a grid search.
    """
    from sklearn.pipeline import Pipeline

    import jetad

    name = args.detector or config.get("detector", DEFAULT_DETECTOR)
    preprocess = args.preprocess or config.get("preprocess", DEFAULT_PREPROCESS)
    params = {"random_state": args.seed, **config.get("params", {}), **dict(args.param)}
    if args.verbose:
        params["verbose"] = 1
    transformer = getattr(jetad, PREPROCESSORS[preprocess])()
    transformer.set_params(**{**config.get("imager", {}), **dict(args.preprocess_param)})
    detector = getattr(jetad, DETECTORS[name])()
    detector.set_params(**params)
    return Pipeline([("preprocess", transformer), ("detector", detector)])


def run_train(args):
    """``jetad train``: fit a Pipeline on the jets of ``--input`` and save it."""
    from jetad import save_model

    config = read_config(args.config) if args.config else {}
    model = build_model(config, args)
    X, _ = load_input(args)
    output = args.output or os.path.join(
        MODEL_DIR, f"{_stem(args.input)}_{type(model[-1]).__name__}.jetad")
    model.fit(X)
    save_model(model, output)
    print(f"trained {type(model[-1]).__name__} on {len(X)} jets of {args.input}; "
          f"model saved to {output}")
    return 0


# --------------------------------------------------------------------------- score


def check_pipeline(model, path):
    """A Pipeline whose steps turn jets into something its final detector scores."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        raise ValueError(f"{path} holds a {type(model).__name__}, not a Pipeline of a "
                         f"transformer and a detector (as jetad train writes); a bare "
                         f"detector scores images, not jets")
    return model


def anomaly_scores(model, X, batch=SCORE_BATCH):
    """Scores of ``model`` on jets ``X``, higher = more anomalous, in batches of jets.

    A Pipeline is scored by :func:`jetad.anomaly_score` (its steps, then the
    detector's ``anomaly_score``).
    """
    from jetad._scores import anomaly_score

    parts = [anomaly_score(model, X[i:i + batch]) for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros(0)


def score_columns(scores, info):
    """Output columns: ``jet``, ``score`` and, when known, ``label``, ``entry``, ``jet_index``."""
    columns = {"jet": np.arange(len(scores), dtype=np.int64), "score": scores}
    for key, name in (("y", "label"), ("entry", "entry"), ("jet_index", "jet_index")):
        values = info.get(key)
        if values is not None and np.shape(values) == (len(scores),):
            columns[name] = np.asarray(values, dtype=np.int64)
    return columns


def write_scores(path, columns, attrs):
    """Write the score columns to HDF5 (one dataset each, ``attrs``) or CSV, atomically."""
    from jetad.utils import atomic_path

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SCORE_SUFFIXES:
        raise ValueError(f"--output must end in one of {list(SCORE_SUFFIXES)}, got {path!r}")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            table = np.column_stack([columns[k].astype(np.float64) for k in columns])
            fmt = ["%.17g" if k == "score" else "%d" for k in columns]
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                np.savetxt(fh, table, fmt=fmt, delimiter=",", header=",".join(columns),
                           comments="")
        else:
            import h5py

            with h5py.File(tmp, "w") as f:
                for key, values in columns.items():
                    f.create_dataset(key, data=values)
                for key, value in attrs.items():
                    f.attrs[key] = value
    return path


def run_score(args):
    """``jetad score``: anomaly scores of a saved model on the jets of ``--input``."""
    import jetad

    model = check_pipeline(jetad.load_model(args.model), args.model)
    X, info = load_input(args)
    scores = anomaly_scores(model, X, args.batch_size)
    output = args.output or os.path.join(
        SCORE_DIR, f"{_stem(args.input)}_{_stem(args.model)}.h5")
    attrs = {"model": os.fspath(args.model), "input": os.fspath(args.input),
             "score": "anomaly score, higher = more anomalous",
             "jetad_version": jetad.__version__}
    write_scores(output, score_columns(scores, info), attrs)
    print(f"scored {len(scores)} jets of {args.input}; scores written to {output}")
    return 0


# --------------------------------------------------------------------------- export


def run_export(args):
    """``jetad export``: the final detector of a saved model to ONNX.

    The preprocessing steps (JetImager, LundPlane) are numpy/FastJet code, not
    a graph: the ONNX model takes their images, not jets.
    """
    from sklearn.pipeline import Pipeline

    import jetad

    model = jetad.load_model(args.model)
    detector = model[-1] if isinstance(model, Pipeline) else model
    if not hasattr(detector, "to_onnx"):
        raise TypeError(f"{args.model}: {type(detector).__name__} cannot be exported to ONNX "
                        f"(only jetad's neural detectors can)")
    output = args.output or os.path.join(MODEL_DIR, f"{_stem(args.model)}.onnx")
    detector.to_onnx(output, opset=args.opset)
    n_features = int(np.prod(detector.image_shape_))
    print(f"exported {type(detector).__name__} to {output}: input 'images' (n, {n_features}) "
          f"float32, output 'energy' (n,) float64, higher = more anomalous")
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        steps = ", ".join(type(step).__name__ for _, step in model.steps[:-1])
        print(f"note: the preprocessing ({steps}) is not part of the ONNX model; feed it the "
              f"images of jetad.load_model({str(args.model)!r})[:-1].transform(jets)")
    return 0


# --------------------------------------------------------------------------- generate


def generate_path(kind, n_jets, seed, level, overrides):
    """Default ``jetad generate`` output: ``jetad-data/<kind>_<n>_seed<s>_<level>[_<tag>].h5``."""
    from jetad.datasets._fetch import _overrides_tag

    return os.path.join(DATA_DIR, f"{kind}_{n_jets}_seed{seed}_{level}"
                                  f"{_overrides_tag(overrides)}.h5")


def run_generate(args, level):
    """``jetad generate``: simulate jets into an HDF5 file, or load an existing complete one."""
    from jetad.datasets import generate_jets
    from jetad.datasets._cards import resolve_card

    overrides = dict(args.set)
    resolve_card(args.kind, overrides)  # unknown names and wrong types, before any work
    output = args.output or generate_path(args.kind, args.n_jets, args.seed, level, overrides)
    X, _, loaded = generate_jets(args.kind, args.n_jets, random_state=args.seed,
                                 n_jobs=args.n_jobs, level=level, output=output,
                                 chunk_size=args.chunk_size, progress=not args.quiet,
                                 _return_loaded=True, **overrides)
    if loaded:
        print(f"loaded {len(X)} {args.kind} jets from existing file {output} (made with the "
              f"same settings; nothing generated)")
    else:
        print(f"wrote {len(X)} {args.kind} jets to {output}")
    return 0
