"""The ``skinvert`` command line: ``skinvert demo`` and ``skinvert invert``.

Errors that the user can fix are printed as one line on stderr, starting
with ``skinvert: error:``, and give exit code 2. Warnings from the library
go through the ``skinvert`` logger and are printed as
``skinvert: warning:`` lines.
"""

import argparse
import logging
import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

from . import __version__
from ._cli_io import (
    CommandError,
    align_columns,
    build_inverter,
    load_model,
    read_csv_matrix,
    write_result_csv,
)
from ._logging import logger

_DESCRIPTION = "Invert fitted scikit-learn models: find inputs x with f(x) close to y."


class _ArgumentParser(argparse.ArgumentParser):
    """ArgumentParser that raises CommandError instead of printing usage and exiting."""

    def error(self, message):
        raise CommandError(f"{message}. Run '{self.prog} --help' for usage.")


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def build_parser():
    """Build the argument parser of the ``skinvert`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        Parser with the ``demo`` and ``invert`` subcommands.
    """
    parser = _ArgumentParser(prog="skinvert", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="invert held-out targets of two data sets bundled with scikit-learn",
        description=(
            "Fit StandardScaler + Ridge on the diabetes and linnerud data sets, "
            "tune a LinearInverter by cross-validation, invert the held-out "
            "targets and compare the recovered inputs with the true ones and "
            "with two baselines. Takes a few seconds and downloads nothing."
        ),
    )
    demo.add_argument(
        "--plot",
        metavar="DIR",
        type=Path,
        help=(
            "also write the regularization curves and recovered-vs-true "
            "scatter plots as PNG files to folder DIR, created if missing. It "
            "needs matplotlib (pip install 'skinvert[plot]')"
        ),
    )
    demo.add_argument(
        "--random-state",
        metavar="N",
        type=int,
        default=0,
        help="seed of the train/test splits and cross-validation folds (default: 0)",
    )

    invert = commands.add_parser(
        "invert",
        help="recover inputs for the targets in a CSV file",
        description=(
            "Recover, for each row of TARGETS, inputs x whose predictions "
            "f(x) match it, and write them to a CSV file."
        ),
    )
    invert.add_argument(
        "model",
        metavar="MODEL",
        type=Path,
        help=(
            "fitted model file: a .skops file written by skops.io.dump, or with "
            "--trust-pickle a .pkl, .pickle or .joblib file. It contains a "
            "fitted LinearInverter, or a fitted regressor or Pipeline whose "
            "predict is affine in X (then --data is required)"
        ),
    )
    invert.add_argument(
        "targets",
        metavar="TARGETS",
        type=Path,
        help=(
            "CSV file of targets: one row per target, one column per model "
            "output, in the units of the model's outputs. The first row is a "
            "header when any of its fields is not a number. Header names that "
            "are the model's output names in another order are reordered, and "
            "otherwise columns are taken in file order"
        ),
    )
    invert.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        type=Path,
        required=True,
        help=(
            "CSV file to write: one column per model input, then 'residual' "
            "(root-mean-square of f(x) - y over the outputs, in output units) "
            "and 'converged' (true or false), one row per target"
        ),
    )
    invert.add_argument(
        "--data",
        metavar="TRAIN_CSV",
        type=Path,
        help=(
            "CSV file of the model's training inputs, one column per input, "
            "with an optional header as in TARGETS. The inverter learns its "
            "prior (mean, covariance, range) from these rows. Required when "
            "MODEL is a plain regressor, and with a LinearInverter when "
            "--alpha or --bounds asks for a refit"
        ),
    )
    invert.add_argument(
        "--alpha",
        metavar="A",
        type=_non_negative_float,
        help=(
            "regularization strength, a number >= 0 in squared output units "
            "per squared standardized input. Larger values pull the inputs "
            "toward the training mean. Default: the saved alpha_ of a "
            "LinearInverter, 0 for a plain regressor"
        ),
    )
    invert.add_argument(
        "--bounds",
        choices=["data"],
        help=(
            "'data' keeps each recovered input within its training minimum "
            "and maximum (read from --data)"
        ),
    )
    invert.add_argument(
        "--trust-pickle",
        action="store_true",
        help=(
            "allow a pickle or joblib MODEL file. Loading a pickle runs "
            "arbitrary code stored in the file, so pass this only for files "
            "that you created or whose source you trust"
        ),
    )
    invert.add_argument(
        "--trust",
        metavar="TYPE",
        action="append",
        default=[],
        help=(
            "trust this type, such as sklearn.tree._tree.Tree, when loading a "
            ".skops MODEL, once per type. Types from skinvert are "
            "trusted automatically. skops.io creates objects of trusted types "
            "from the file, so check a type's source before trusting it"
        ),
    )
    return parser


def _run_demo(args):
    # The import is here so that the demo loads only when it runs.
    from ._demo import format_report, run_demo, write_figures

    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CommandError(
                "--plot needs matplotlib, which is not installed. Install it "
                "with: pip install 'skinvert[plot]'"
            ) from None

    results = run_demo(random_state=args.random_state)
    print(format_report(results, random_state=args.random_state))
    if args.plot is None:
        return

    try:
        paths = write_figures(results, args.plot)
    except OSError as exc:
        raise CommandError(
            f"cannot write the figures to folder '{args.plot}': {exc.strerror}"
        ) from None
    print()
    for path in paths:
        print(f"wrote {path}")


def _run_invert(args):
    for source in (args.model, args.targets, args.data):
        if source is not None and args.output.resolve() == source.resolve():
            raise CommandError(
                f"-o {args.output} is also an input file; choose another output "
                "path so the input is not overwritten."
            )
    model = load_model(args.model, args.trust_pickle, args.trust)
    train = None
    if args.data is not None:
        train = read_csv_matrix(args.data, "--data")
    inverter, input_names = build_inverter(model, args, train)

    header, Y = read_csv_matrix(args.targets, "TARGETS")
    Y = align_columns(
        Y,
        header,
        inverter.n_outputs_,
        [str(name) for name in inverter.get_feature_names_out()],
        "TARGETS",
        args.targets,
        strict_names=False,
    )
    try:
        # The warning below replaces the library's ConvergenceWarning, which
        # points to the Python API rather than to the output columns.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = inverter.invert(Y)
    except ValueError as exc:
        raise CommandError(f"inversion failed: {exc}") from None

    write_result_csv(args.output, input_names, result)
    n_failed = int(result.converged.size - result.converged.sum())
    if n_failed:
        logger.warning(
            "%d of %d targets did not converge: the bounded solver failed, or "
            "the target cannot be reached within the bounds to tol=%g relative "
            "to the training outputs. Their rows in %s have converged=false, "
            "and the 'residual' column gives the misfit.",
            n_failed,
            result.converged.size,
            getattr(inverter, "tol", float("nan")),
            args.output,
        )


def main(argv=None):
    """Run the ``skinvert`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name. None reads ``sys.argv[1:]``.

    Returns
    -------
    exit_code : int
        0 on success, 2 on an error, which is printed as one line on stderr.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("skinvert: warning: %(message)s"))
    logger.addHandler(handler)
    try:
        # Python warnings, such as scikit-learn's, become one log line each,
        # without the source location that Python's default display adds.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                args = build_parser().parse_args(argv)
                if args.command == "demo":
                    _run_demo(args)
                else:
                    _run_invert(args)
            finally:
                for caught_warning in caught:
                    logger.warning("%s", caught_warning.message)
    except CommandError as exc:
        message = " ".join(str(exc).split())
        print(f"skinvert: error: {message}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        # --help and --version exit through argparse with code 0.
        return exc.code if isinstance(exc.code, int) else 0
    finally:
        logger.removeHandler(handler)
    return 0
