"""Files for ``skinvert invert``: CSV matrices, model files and the result CSV.

Every problem with a file or a model that the user can fix raises
CommandError with a one-line message naming the file and the fix.
"""

import csv
import math

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._base import BaseInverter
from ._linear import LinearInverter
from ._logging import logger

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


class CommandError(Exception):
    """Error that the command line prints as one line, with exit code 2."""


def _parse_number(field):
    try:
        return float(field)
    except ValueError:
        return None


def read_csv_matrix(path, role):
    """Read a CSV file of numbers with an optional header row.

    The first row is a header when any of its fields is not a number.
    Blank lines are skipped.

    Parameters
    ----------
    path : pathlib.Path
        CSV file.
    role : str
        Name of the file's role in messages, such as ``"TARGETS"``.

    Returns
    -------
    header : list of str or None
        Column names, or None when the file has no header.
    values : ndarray of shape (n_rows, n_columns)
        Numbers, as float64.

    Raises
    ------
    CommandError
        If the file is missing or unreadable, has no data rows, has rows of
        different lengths, or has a field that is not a finite number.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            rows = [(reader.line_num, row) for row in reader if "".join(row).strip()]
    except FileNotFoundError:
        raise CommandError(f"{role} file '{path}' not found. Check the path.") from None
    except IsADirectoryError:
        raise CommandError(
            f"{role} path '{path}' is a folder, not a CSV file."
        ) from None
    except UnicodeDecodeError:
        raise CommandError(
            f"{role} file '{path}' is not UTF-8 text. Save it as a UTF-8 CSV file."
        ) from None
    except csv.Error as exc:
        raise CommandError(f"{role} file '{path}' is not valid CSV: {exc}.") from None
    except OSError as exc:
        raise CommandError(
            f"cannot read {role} file '{path}': {exc.strerror}."
        ) from None

    header = None
    if rows and any(_parse_number(field) is None for field in rows[0][1]):
        header = [field.strip() for field in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise CommandError(f"{role} file '{path}' contains no data rows.")

    width = len(header) if header is not None else len(rows[0][1])
    values = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise CommandError(
                f"{role} file '{path}', line {line}: {len(row)} fields, but the "
                f"file's first row has {width}. Give every row the same columns."
            )
        for j, field in enumerate(row):
            number = _parse_number(field)
            if number is None or not math.isfinite(number):
                raise CommandError(
                    f"{role} file '{path}', line {line}, column {j + 1}: "
                    f"{field.strip()!r} is not a finite number."
                )
            values[i, j] = number
    return header, values


def align_columns(values, header, n_expected, names, role, path, strict_names):
    """Return ``values`` with its columns in the order the model expects.

    When the header contains every name in ``names``, those columns are
    selected in that order. Otherwise the columns are taken in file order
    and their number must be ``n_expected``.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_columns)
        Numbers read from the file.
    header : list of str or None
        Column names from the file.
    n_expected : int or None
        Number of columns the model needs, or None to skip the check.
    names : list of str or None
        Column names the model expects, in order.
    role : str
        Name of the file's role in messages.
    path : pathlib.Path
        File, for messages.
    strict_names : bool
        If True, a header that lacks some of ``names`` is an error, because
        the model's names are known to be real column names.

    Returns
    -------
    values : ndarray of shape (n_rows, n_expected)
        Columns in model order.
    """
    if header is not None and names is not None:
        missing = [name for name in names if name not in header]
        if not missing:
            return values[:, [header.index(name) for name in names]]
        if strict_names:
            raise CommandError(
                f"{role} file '{path}' lacks the model's input column(s) "
                f"{', '.join(missing)}. Its header is {', '.join(header)}."
            )
        known = [name for name in header if name in names]
        if known:
            logger.warning(
                "%s file '%s' names some of the model's columns (%s) but not "
                "all (missing: %s), so its columns are taken in file order. "
                "Check that the order is right.",
                role,
                path,
                ", ".join(known),
                ", ".join(missing),
            )
    if n_expected is not None and values.shape[1] != n_expected:
        kind = "output" if role == "TARGETS" else "input"
        raise CommandError(
            f"{role} file '{path}' has {values.shape[1]} columns, but the model "
            f"has {n_expected} {kind}s. Give one column per model {kind}."
        )
    return values


def load_model(path, trust_pickle, trusted_types):
    """Load a fitted model from a .skops file, or a pickle file if trusted.

    Parameters
    ----------
    path : pathlib.Path
        Model file, whose suffix selects the format.
    trust_pickle : bool
        Whether loading a pickle or joblib file, which can run arbitrary
        code, is allowed.
    trusted_types : list of str
        Types to trust in a .skops file, in addition to skops' defaults and
        the types defined in skinvert.

    Returns
    -------
    model : object
        The loaded object.
    """
    if not path.exists():
        raise CommandError(f"MODEL file '{path}' not found. Check the path.")
    if not path.is_file():
        raise CommandError(f"MODEL path '{path}' is not a file.")

    suffix = path.suffix.lower()
    if suffix == ".skops":
        return _load_skops(path, trusted_types)
    if suffix not in PICKLE_SUFFIXES:
        raise CommandError(
            f"MODEL file '{path}' has the unknown suffix {suffix!r}. Save the "
            "model with skops.io.dump to a .skops file, or pass a .pkl, .pickle "
            "or .joblib file with --trust-pickle."
        )
    if not trust_pickle:
        raise CommandError(
            f"MODEL file '{path}' is a pickle file, and loading a pickle runs "
            "arbitrary code stored in it. Pass --trust-pickle if you created "
            "the file or trust its source, or save the model with skops.io.dump."
        )
    import joblib

    try:
        return joblib.load(path)
    # A damaged or foreign file can fail in many ways (UnpicklingError,
    # EOFError, ModuleNotFoundError, ...), and all of them mean "cannot load".
    except Exception as exc:
        raise CommandError(
            f"cannot load MODEL file '{path}' with joblib: "
            f"{type(exc).__name__}: {exc}. Check that joblib.dump or pickle.dump "
            "wrote it."
        ) from None


def _skops_load_error(path, exc):
    return CommandError(
        f"cannot load MODEL file '{path}' with skops.io: "
        f"{type(exc).__name__}: {exc}. Check that skops.io.dump wrote it."
    )


def _load_skops(path, trusted_types):
    import skops.io

    # skops raises many exception types on a damaged or foreign file
    # (BadZipFile, KeyError, TypeError, ...), and all of them mean "cannot load".
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise _skops_load_error(path, exc) from None

    # Types defined in skinvert are this package's own estimators and results.
    allowed = [
        name
        for name in untrusted
        if name.startswith("skinvert.") or name in trusted_types
    ]
    rejected = [name for name in untrusted if name not in allowed]
    if rejected:
        raise CommandError(
            f"MODEL file '{path}' contains types that skops does not trust "
            f"by default: {', '.join(rejected)}. Check their source, then "
            "pass --trust TYPE for each of them."
        )

    try:
        return skops.io.load(path, trusted=allowed)
    except Exception as exc:
        raise _skops_load_error(path, exc) from None


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


def build_inverter(model, args, train):
    """Return the fitted inverter for the loaded model and the input names.

    A fitted inverter is used as saved, unless ``--alpha`` or ``--bounds``
    is given, which refits it on ``--data`` around its fitted estimator. A
    plain regressor is wrapped in a LinearInverter fitted on ``--data``.

    Parameters
    ----------
    model : object
        Loaded model.
    args : argparse.Namespace
        Parsed arguments of ``skinvert invert``.
    train : tuple or None
        ``(header, values)`` from ``--data``, or None.

    Returns
    -------
    inverter : BaseInverter
        Fitted inverter.
    input_names : list of str
        Names for the recovered input columns.
    """
    refit = args.alpha is not None or args.bounds is not None
    model_type = type(model).__name__
    if isinstance(model, BaseInverter):
        if not _is_fitted(model):
            raise CommandError(
                f"MODEL file '{args.model}' contains an unfitted {model_type}. "
                "Fit it before saving."
            )
        if not refit:
            if train is not None:
                logger.warning(
                    "--data is ignored: MODEL is a fitted %s, and only --alpha "
                    "or --bounds refits it.",
                    model_type,
                )
            return model, _input_names(model, None)
        if train is None:
            raise CommandError(
                "--alpha and --bounds change how the saved inverter was fitted, "
                "so pass --data TRAIN_CSV with its training inputs to refit it."
            )
        estimator = model.estimator_
        alpha = args.alpha if args.alpha is not None else model.alpha_
        inverter = clone(model).set_params(
            estimator=estimator, alpha=alpha, bounds=args.bounds or model.bounds
        )
    elif hasattr(model, "predict"):
        if not _is_fitted(model):
            raise CommandError(
                f"MODEL file '{args.model}' contains an unfitted {model_type}. "
                "Fit it before saving."
            )
        if train is None:
            raise CommandError(
                f"MODEL file '{args.model}' contains a {model_type}, not a "
                "LinearInverter. Pass --data TRAIN_CSV with its training inputs "
                "so that the inverter can learn its prior from them."
            )
        estimator = model
        alpha = 0.0 if args.alpha is None else args.alpha
        inverter = LinearInverter(model, alpha=alpha, bounds=args.bounds)
    else:
        raise CommandError(
            f"MODEL file '{args.model}' contains a {model_type}, which is "
            "neither an inverter nor a regressor with a predict method."
        )

    header, values = train
    names = getattr(estimator, "feature_names_in_", None)
    X = align_columns(
        values,
        header,
        getattr(estimator, "n_features_in_", None),
        None if names is None else [str(name) for name in names],
        "--data",
        args.data,
        strict_names=True,
    )
    try:
        inverter.fit(X)
    except ValueError as exc:
        raise CommandError(f"cannot invert MODEL '{args.model}': {exc}") from None
    return inverter, _input_names(inverter, header)


def _input_names(inverter, header):
    for owner in (inverter, inverter.estimator_):
        names = getattr(owner, "feature_names_in_", None)
        if names is not None:
            return [str(name) for name in names]
    if header is not None and len(header) == inverter.n_features_in_:
        return header
    return [f"x{i}" for i in range(inverter.n_features_in_)]


def write_result_csv(path, input_names, result):
    """Write recovered inputs, ``residual`` and ``converged`` to a CSV file.

    Numbers are written with ``repr``, which round-trips float64 exactly.

    Parameters
    ----------
    path : pathlib.Path
        Output file, overwritten if present.
    input_names : list of str
        Names of the input columns.
    result : InversionResult
        Result of ``invert``.
    """
    try:
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow([*input_names, "residual", "converged"])
            for x, residual, converged in zip(
                result.X, result.residual, result.converged, strict=True
            ):
                writer.writerow(
                    [
                        *(repr(float(value)) for value in x),
                        repr(float(residual)),
                        "true" if converged else "false",
                    ]
                )
    except OSError as exc:
        raise CommandError(f"cannot write OUT file '{path}': {exc.strerror}.") from None
