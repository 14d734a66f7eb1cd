"""The ``jetad`` command line: ``jetad demo``, ``jetad generate``, ``jetad benchmark``.

Usage errors (caught by argparse: unknown options, ``-n 0``) exit with status 2;
an error while running prints one ``jetad: error: <message>`` line to stderr
and exits with status 1. ``--debug`` shows the traceback instead.
"""

import argparse
import sys
import warnings


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


def _build_parser():
    from jetad.datasets._cards import KINDS

    parser = argparse.ArgumentParser(
        prog="jetad", description="Unsupervised anomaly detection on LHC jets."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")
    # also accepted after the sub-command; SUPPRESS keeps a top-level --debug
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", parents=[debug],
                          help="generate small samples, train detectors, write a report")
    demo.add_argument("--output-dir", default="jetad-demo", help="where the report is written")
    demo.add_argument("--n-jets", type=_int_at_least(1), default=None,
                      help="jets per class (default: preset)")
    demo.add_argument("--n-jobs", type=int, default=2, help="worker processes for generation")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--cache-dir", default=None, help="sample cache (default: user cache)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    gen = sub.add_parser("generate", parents=[debug],
                         help="simulate jets with Pythia 8 and FastJet")
    gen.add_argument("--kind", required=True,
                     choices=list(KINDS))
    gen.add_argument("-n", "--n-jets", type=_int_at_least(1), required=True)
    gen.add_argument("-o", "--output", required=True, help="HDF5 file to write (resumable)")
    gen.add_argument("--chunk-size", type=_int_at_least(1), default=1000,
                     help="jets per chunk, the unit of parallelism and of resuming a killed "
                          "run (default: 1000)")
    gen.add_argument("--n-jobs", type=_n_jobs, default=1)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--level", choices=["detector", "particle"], default=None,
                     help="cluster the simulated detector's objects (default) or the "
                          "visible final-state particles")
    gen.add_argument("--no-detector", action="store_true",
                     help="deprecated alias of --level particle")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = sub.add_parser("benchmark", parents=[debug],
                           help="run the paper-reproduction benchmark suite")
    bench.add_argument("--config", default=None, help="JSON file with sizes, seeds, detectors")
    bench.add_argument("--output-dir", default="benchmarks/results")
    bench.add_argument("--preset", default="small", choices=["small", "medium", "paper"],
                       help="size preset: small, medium, paper")
    bench.add_argument("--data-dir", default=None,
                       help="sample cache (default: config's data_dir, else the user cache)")
    bench.add_argument("--tasks", default=None,
                       help="comma-separated subset of top_qcd,dark,mmd (default: config)")
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
        parser.error("a command is required: demo, generate or benchmark")
    if args.command == "generate":
        from jetad.datasets import generate_jets

        generate_jets(
            args.kind,
            args.n_jets,
            random_state=args.seed,
            n_jobs=args.n_jobs,
            level=_generation_level(parser, args),
            output=args.output,
            chunk_size=args.chunk_size,
            progress=not args.quiet,
        )
        print(f"wrote {args.n_jets} {args.kind} jets to {args.output}")
        return 0
    if args.command == "demo":
        from jetad._demo import run_demo

        return run_demo(
            output_dir=args.output_dir,
            n_jets=args.n_jets,
            n_jobs=args.n_jobs,
            random_state=args.seed,
            cache_dir=args.cache_dir,
            progress=not args.quiet,
        )
    if args.command == "benchmark":
        from jetad._benchmark import run_benchmark

        return run_benchmark(config=args.config, output_dir=args.output_dir, preset=args.preset,
                             data_dir=args.data_dir,
                             tasks=args.tasks.split(",") if args.tasks else None)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
