"""The ``jetad`` command line: ``demo``, ``generate``, ``train``, ``score``, ``export``, ``benchmark``.

Usage errors (caught by argparse: unknown options, ``-n 0``) exit with status 2;
an error while running prints one ``jetad: error: <message>`` line to stderr
and exits with status 1. ``--debug`` shows the traceback instead. Outputs go
by default under the working directory's ``jetad-*`` folders
(``jetad-models/``, ``jetad-scores/``, ``jetad-data/``, ``jetad-benchmark/``).
The sub-commands' work is in :mod:`jetad._cli_commands`.
"""

import argparse
import json
import sys
import textwrap
import warnings

_COMMANDS = ("demo", "generate", "train", "score", "export", "benchmark")


class _HelpFormatter(argparse.HelpFormatter):
    """Paragraphs of descriptions wrapped (indented lines kept); ``(default: ...)`` appended."""

    def _fill_text(self, text, width, indent):
        blocks = []
        for block in text.split("\n\n"):
            if block.startswith("  "):  # an example or a JSON snippet: as written
                blocks.append(block)
            else:
                blocks.append(textwrap.fill(" ".join(block.split()), width,
                                            initial_indent=indent, subsequent_indent=indent,
                                            break_on_hyphens=False))
        return "\n\n".join(blocks)

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.default is None
                or action.default is False or action.default is argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _n_jobs(text):
    value = _int_at_least(-(2**31))(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a non-zero int (-1: all cores)")
    return value


def _assignment(text):
    """``KEY=VALUE``; the value parsed as JSON (``3``, ``0.5``, ``true``, ``[1, 2]``), else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


_assignment.__name__ = "KEY=VALUE"


def _json_object(text):
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


_json_object.__name__ = "JSON object"


def _jet_index(text):
    return text if text == "all" else _int_at_least(0)(text)


_jet_index.__name__ = "jet index"


def _score_output(text):
    from jetad._cli_commands import SCORE_SUFFIXES

    if not text.lower().endswith(SCORE_SUFFIXES):
        raise argparse.ArgumentTypeError(f"must end in one of {', '.join(SCORE_SUFFIXES)} "
                                         f"(HDF5 or CSV), got {text!r}")
    return text


_score_output.__name__ = "output"


def _subparser(sub, name, parents, summary, description, example):
    return sub.add_parser(name, parents=parents, help=summary,
                          description=f"{summary[0].upper()}{summary[1:]}.\n\n{description}",
                          epilog=f"example:\n\n  {example}", formatter_class=_HelpFormatter)


def _input_parent():
    """Options of ``train`` and ``score`` that read a jet file (HDF5 or ROOT)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("input")
    group.add_argument("-i", "--input", required=True,
                       help="jet file: a jetad HDF5 file (jetad generate, "
                            "jetad.datasets.save_jets) or a ROOT file (needs jetad[root])")
    group.add_argument("--format", choices=["auto", "hdf5", "root"], default="auto",
                       help="file format; auto: from the suffix (.root, .h5/.hdf5)")
    group.add_argument("--max-jets", type=_int_at_least(1), default=None,
                       help="use only the first N jets (default: all)")
    root = parent.add_argument_group("ROOT input (jetad.datasets.load_root)")
    root.add_argument("--tree", default="Delphes", help="TTree or RNTuple name")
    root.add_argument("--layout", choices=["delphes", "flat"], default="delphes",
                      help="a Delphes tree, or constituent branches named by --branches")
    root.add_argument("--branches", type=_json_object, default=None,
                      help='JSON object: for flat, {"pt": ..., "eta": ..., "phi": ..., '
                           '"E": ...} branch names; for delphes, optional {"jet": "Jet", '
                           '"candidates": [...]} (default: Delphes names)')
    root.add_argument("--jet-index", type=_jet_index, default=0,
                      help="jet of each entry: 0 the leading one, k the k-th, or all")
    root.add_argument("--n-constituents", type=_int_at_least(1), default=200,
                      help="constituents kept per jet (pT-leading, zero-padded)")
    root.add_argument("--label", default=None,
                      help="branch with one integer label per entry; score writes it next "
                           "to the scores, train ignores labels (default: none)")
    return parent


def _add_demo(sub, parents):
    demo = _subparser(
        sub, "demo", parents, "generate small samples, train detectors, write a report",
        "Simulates QCD and top jets (cached), trains the AE and the NAE in both directions "
        "and writes report.md, results.json and plots.",
        "jetad demo --n-jets 900")
    demo.add_argument("--output-dir", default="jetad-demo", help="where the report is written")
    demo.add_argument("--n-jets", type=_int_at_least(1), default=None,
                      help="jets per class (default: preset)")
    demo.add_argument("--n-jobs", type=int, default=2, help="worker processes for generation")
    demo.add_argument("--seed", type=int, default=0, help="seed of the samples and models")
    demo.add_argument("--cache-dir", default=None, help="sample cache (default: user cache)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_generate(sub, parents):
    from jetad.datasets._cards import KINDS

    gen = _subparser(
        sub, "generate", parents, "simulate jets with Pythia 8 and FastJet",
        "Writes an HDF5 jet file (resumable: a killed run continues from its .partial file). "
        "An existing complete file made with the same settings is loaded, not regenerated. "
        "--set replaces generation-card parameters (see jetad.datasets.default_card); they "
        "are recorded in the file's info['card'].",
        "jetad generate --kind qcd -n 10000 --n-jobs 4 --set pt_min=500 -o qcd.h5")
    gen.add_argument("--kind", required=True, choices=list(KINDS), help="jets to simulate")
    gen.add_argument("-n", "--n-jets", type=_int_at_least(1), required=True,
                     help="number of selected jets")
    gen.add_argument("-o", "--output", default=None,
                     help="HDF5 file to write (default: jetad-data/<kind>_<n>_seed<seed>_"
                          "<level>.h5, a hash of the --set values appended)")
    gen.add_argument("--set", type=_assignment, action="append", default=[],
                     metavar="KEY=VALUE",
                     help="card override, repeatable; VALUE as JSON (560, 0.5, true, "
                          "'[\"PartonLevel:ISR = off\"]'), else a string (default: none)")
    gen.add_argument("--chunk-size", type=_int_at_least(1), default=1000,
                     help="jets per chunk, the unit of parallelism and of resuming a killed "
                          "run")
    gen.add_argument("--n-jobs", type=_n_jobs, default=1, help="parallel chunks (-1: all cores)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the whole run")
    gen.add_argument("--level", choices=["detector", "particle"], default=None,
                     help="cluster the simulated detector's objects (default: detector) or "
                          "the visible final-state particles")
    gen.add_argument("--no-detector", action="store_true",
                     help="deprecated alias of --level particle")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_train(sub, parents):
    from jetad._cli_commands import DEFAULT_DETECTOR, DEFAULT_PREPROCESS, DETECTORS

    train = _subparser(
        sub, "train", parents, "train a detector on your own jet file",
        "Fits Pipeline([('preprocess', JetImager or LundPlane), ('detector', ...)]) on the "
        "jets of --input (background only: every jet is used) and saves it in jetad's safe "
        "model format (jetad.save_model: JSON + safetensors, no pickle).\n\n"
        "The model comes from flags or from a JSON --config, e.g.\n\n"
        '  {"detector": "NAE", "params": {"max_epochs": 5, "sampler__n_x_steps": 30},\n'
        '   "preprocess": "image", "imager": {"n_pixels": 40, "gaussian_sigma": 1.0}}\n\n'
        "Flags win over the config; parameters go through set_params, so nested ones "
        "(sampler__*) work.",
        "jetad train -i qcd.h5 --detector AE --param max_epochs=10 -o ae.jetad")
    train.add_argument("--config", default=None, help="JSON model description (default: none)")
    train.add_argument("--detector", choices=list(DETECTORS), default=None,
                       help=f"detector (default: the config's, else {DEFAULT_DETECTOR})")
    train.add_argument("--param", type=_assignment, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="detector parameter, repeatable, VALUE as JSON (max_epochs=10, "
                            "device=cpu, sampler__n_x_steps=30) (default: none)")
    train.add_argument("--preprocess", choices=["image", "lund"], default=None,
                       help="image: JetImager, lund: LundPlane (default: the config's, else "
                            f"{DEFAULT_PREPROCESS})")
    train.add_argument("--preprocess-param", type=_assignment, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="parameter of the preprocessing step, repeatable "
                            "(n_pixels=32, gaussian_sigma=1.0) (default: none)")
    train.add_argument("--seed", type=int, default=0,
                       help="random_state of the detector (a config or --param value wins)")
    train.add_argument("--verbose", action="store_true", help="per-epoch training log")
    train.add_argument("-o", "--output", default=None,
                       help="model file (default: jetad-models/<input>_<Detector>.jetad)")


def _add_score(sub, parents):
    score = _subparser(
        sub, "score", parents, "score a jet file with a trained model",
        "Loads a model written by jetad train (jetad.load_model; no code from the file is "
        "run) and writes one anomaly score per jet, higher = more anomalous, to HDF5 "
        "(datasets jet, score[, label, entry, jet_index]) or CSV (same columns, one header "
        "line), atomically.",
        "jetad score ae.jetad -i test.h5 -o scores.csv")
    score.add_argument("model", help="model file (jetad train, jetad.save_model)")
    score.add_argument("-o", "--output", type=_score_output, default=None,
                       help="scores file, .h5/.hdf5 or .csv (default: "
                            "jetad-scores/<input>_<model>.h5)")
    score.add_argument("--batch-size", type=_int_at_least(1), default=10_000,
                       help="jets preprocessed and scored at a time")


def _add_export(sub, parents):
    export = _subparser(
        sub, "export", parents, "export a trained model's detector to ONNX",
        "Writes the detector (the final step of a Pipeline) as an ONNX model: input "
        "'images' (n, H*W) float32, output 'energy' (n,) float64, equal to the scores of "
        "jetad score. The preprocessing step (JetImager, LundPlane) is not a graph and is "
        "NOT exported: the ONNX model takes images, not jets; compute them with "
        "jetad.load_model(MODEL)[:-1].transform(jets). Needs jetad[export].",
        "jetad export ae.jetad -o ae.onnx")
    export.add_argument("model", help="model file (jetad train, jetad.save_model)")
    export.add_argument("-o", "--output", default=None,
                        help="ONNX file (default: jetad-models/<model>.onnx)")
    export.add_argument("--opset", type=_int_at_least(1), default=18, help="ONNX opset")


def _add_benchmark(sub, parents):
    bench = _subparser(
        sub, "benchmark", parents, "run the paper-reproduction benchmark suite",
        "Resumable: finished units are kept under OUTPUT_DIR/units and skipped by a rerun. "
        "The repository's committed results (benchmarks/results) are only written when "
        "passed explicitly as --output-dir.",
        "jetad benchmark --preset small --tasks top_qcd")
    bench.add_argument("--config", default=None,
                       help="JSON file with sizes, seeds, detectors (default: the preset)")
    bench.add_argument("--output-dir", default="jetad-benchmark",
                       help="results folder, relative to the working directory")
    bench.add_argument("--preset", default="small", choices=["small", "medium", "paper"],
                       help="size preset")
    bench.add_argument("--data-dir", default=None,
                       help="sample cache (default: config's data_dir, else the user cache)")
    bench.add_argument("--tasks", default=None,
                       help="comma-separated subset of top_qcd,dark,mmd (default: config)")


def _threads_arg(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return value


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="jetad", description="Unsupervised anomaly detection on LHC jets.",
        epilog="'jetad COMMAND --help' describes a command. Exit status: 0 success, 1 failed "
               "run (one 'jetad: error:' line), 2 usage error.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")
    # also accepted after the sub-command; SUPPRESS keeps a top-level --debug
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    debug.add_argument("--threads", type=_threads_arg, default="auto",
                       help="torch threads: a number, or 'auto' for the cores that other "
                            "processes leave idle (an OMP_NUM_THREADS in the environment "
                            "is kept)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    inputs = _input_parent()
    _add_demo(sub, [debug])
    _add_generate(sub, [debug])
    _add_train(sub, [debug, inputs])
    _add_score(sub, [debug, inputs])
    _add_export(sub, [debug])
    _add_benchmark(sub, [debug])
    return parser


def _generation_level(parser, args):
    """``--level``, or ``particle`` for the deprecated ``--no-detector``."""
    if not args.no_detector:
        return args.level or "detector"
    if args.level == "detector":
        parser.error("--no-detector contradicts --level detector")
    warnings.warn("--no-detector is deprecated and will be removed in jetad 0.2; use "
                  "--level particle", FutureWarning, stacklevel=2)
    return "particle"


def main(argv=None):
    """Entry point of the ``jetad`` console script.

    Returns
    -------
    status : int
        0 on success, 1 if the run failed (one ``jetad: error:`` line on
        stderr), 130 if interrupted. Usage errors exit through argparse with
        status 2.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        return _run(parser, args)
    try:
        return _run(parser, args)
    except KeyboardInterrupt:
        print("jetad: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure becomes one line; --debug shows the traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"jetad: error: {message}", file=sys.stderr)
        return 1


def _run(parser, args):
    if args.version:
        from jetad import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.error(f"a command is required: {', '.join(_COMMANDS)}")
    if args.command in ("demo", "train", "score", "benchmark"):
        from jetad.utils._threads import configure_threads

        configure_threads(args.threads)
    if args.command == "demo":
        from jetad._demo import run_demo

        return run_demo(output_dir=args.output_dir, n_jets=args.n_jets, n_jobs=args.n_jobs,
                        random_state=args.seed, cache_dir=args.cache_dir,
                        progress=not args.quiet)
    if args.command == "benchmark":
        from jetad._benchmark import run_benchmark

        return run_benchmark(config=args.config, output_dir=args.output_dir, preset=args.preset,
                             data_dir=args.data_dir,
                             tasks=args.tasks.split(",") if args.tasks else None)
    from jetad import _cli_commands

    if args.command == "generate":
        return _cli_commands.run_generate(args, _generation_level(parser, args))
    return getattr(_cli_commands, f"run_{args.command}")(args)


if __name__ == "__main__":
    sys.exit(main())
