"""The ``skinvert demo`` computation: invert held-out targets of two small data sets.

The data sets ship with scikit-learn, so the demo needs no download. Each
one is split into training and held-out rows. A StandardScaler + Ridge
forward model is wrapped in a LinearInverter, ``alpha`` and ``prior`` are
tuned by cross-validation on the training rows, and the held-out targets
are inverted. The recovered inputs are compared with the true held-out
inputs and with two baselines that need no inversion.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._linear import LinearInverter

#: Alphas searched by the demo. The outputs are standardized, so alpha is in
#: output variances per squared standardized input, and one grid fits both
#: data sets.
DEMO_ALPHAS = np.logspace(-3, 3, 13)
DEMO_PRIORS = ("diag", "full")
TEST_SIZE = 0.25
CV_FOLDS = 5

# One line per data set on what to expect from the inversion.
_NOTES = {
    "diabetes": (
        "1 output cannot determine 10 inputs: the target fixes one direction "
        "in input space and the prior fills in the rest, so recovery is "
        "partial by nature."
    ),
    "linnerud": (
        "only 20 rows and a weak link from exercise to physiology, so the "
        "inversion need not beat the mean baseline, and scores on so few "
        "held-out rows are noisy."
    ),
}


@dataclass
class DemoResult:
    """Numbers and arrays from the demo on one data set.

    Attributes
    ----------
    name : str
        Data set name.
    feature_names, output_names : list of str
        Names of the inputs and of the outputs.
    n_train, n_test : int
        Number of training and held-out rows.
    alpha, prior : float, str
        Settings chosen by cross-validation.
    alphas : ndarray of shape (n_alphas,)
        Alphas searched.
    cv_rmse, cv_rmse_std : dict of str to ndarray of shape (n_alphas,)
        Per prior, mean and standard deviation over folds of the
        cross-validated RMSE of recovered inputs, in standardized units.
    inverter : LinearInverter
        The inverter refitted on all training rows with the chosen settings.
    X_test : ndarray of shape (n_test, n_features)
        True held-out inputs.
    targets : ndarray of shape (n_test, n_outputs)
        Held-out outputs, standardized with the training mean and standard
        deviation. These are the targets that are inverted.
    input_scale : ndarray of shape (n_features,)
        Training standard deviation of each input, the unit of the RMSE.
    recovered : dict of str to ndarray of shape (n_test, n_features)
        Inputs from the inverter (``"inverter"``) and from the baselines
        (``"mean"`` and ``"nearest"``).
    residual : ndarray of shape (n_test,)
        ``invert(targets).residual``, in output standard deviations.
    converged : ndarray of shape (n_test,)
        ``invert(targets).converged``.
    rmse, r2 : dict of str to float
        Per key of ``recovered``, the RMSE in standardized units and the R²
        (averaged over inputs) against ``X_test``.
    note : str
        One line on what to expect from this data set.
    """

    name: str
    feature_names: list
    output_names: list
    n_train: int
    n_test: int
    alpha: float
    prior: str
    alphas: np.ndarray
    cv_rmse: dict
    cv_rmse_std: dict
    inverter: LinearInverter
    X_test: np.ndarray
    targets: np.ndarray
    input_scale: np.ndarray
    recovered: dict
    residual: np.ndarray
    converged: np.ndarray
    rmse: dict = field(default_factory=dict)
    r2: dict = field(default_factory=dict)
    note: str = ""


def _standardized_rmse(X_true, X_hat, scale):
    return float(np.sqrt(np.mean(((X_hat - X_true) / scale) ** 2)))


def _neg_recovery_rmse(inverter, X, y):
    # Scorer for GridSearchCV, greater is better. The unit is the training
    # standard deviation of the fold, which the inverter stores.
    X_hat = inverter.inverse_transform(y)
    return -_standardized_rmse(X, X_hat, inverter.prior_scale_)


def _nearest_prediction_inputs(forward, X_train, targets):
    """Return, per target, the training row whose prediction is nearest.

    The distance is Euclidean, so the outputs should share a scale.
    """
    predictions = np.asarray(forward(X_train)).reshape(X_train.shape[0], -1)
    distances = ((targets[:, None, :] - predictions[None, :, :]) ** 2).sum(axis=2)
    return X_train[np.argmin(distances, axis=1)]


def _load_datasets():
    """Return ``(name, X, Y, feature_names, output_names)`` per data set."""
    diabetes = load_diabetes()
    linnerud = load_linnerud()
    return [
        (
            "diabetes",
            diabetes.data,
            diabetes.target.reshape(-1, 1),
            list(diabetes.feature_names),
            ["disease progression"],
        ),
        (
            "linnerud",
            linnerud.data,
            linnerud.target,
            list(linnerud.feature_names),
            list(linnerud.target_names),
        ),
    ]


def run_demo_case(name, X, Y, feature_names, output_names, random_state=0):
    """Tune, fit and evaluate a LinearInverter on one data set.

    The outputs are standardized with their training mean and standard
    deviation, so residuals are in output standard deviations and one alpha
    grid fits every data set.

    Parameters
    ----------
    name : str
        Data set name.
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_outputs)
        Outputs.
    feature_names, output_names : list of str
        Names of the inputs and outputs.
    random_state : int, default=0
        Seed of the train/test split and of the cross-validation folds.

    Returns
    -------
    result : DemoResult
        Chosen settings, cross-validation curves, recovered inputs and scores.
    """
    X_train, X_test, Y_train, Y_test = train_test_split(
        X, Y, test_size=TEST_SIZE, random_state=random_state
    )
    output_scaler = StandardScaler().fit(Y_train)
    Y_train = output_scaler.transform(Y_train)
    targets = output_scaler.transform(Y_test)

    forward = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    search = GridSearchCV(
        LinearInverter(forward),
        {"alpha": list(DEMO_ALPHAS), "prior": list(DEMO_PRIORS)},
        scoring=_neg_recovery_rmse,
        cv=KFold(CV_FOLDS, shuffle=True, random_state=random_state),
    ).fit(X_train, Y_train)

    cv = search.cv_results_
    cv_rmse, cv_rmse_std = {}, {}
    for prior in DEMO_PRIORS:
        rows = np.flatnonzero(np.asarray(cv["param_prior"]) == prior)
        rows = rows[np.argsort(np.asarray(cv["param_alpha"], dtype=float)[rows])]
        cv_rmse[prior] = -np.asarray(cv["mean_test_score"])[rows]
        cv_rmse_std[prior] = np.asarray(cv["std_test_score"])[rows]

    inverter = search.best_estimator_
    result = inverter.invert(targets)
    recovered = {
        "inverter": result.X,
        "mean": np.tile(X_train.mean(axis=0), (X_test.shape[0], 1)),
        "nearest": _nearest_prediction_inputs(inverter.transform, X_train, targets),
    }
    input_scale = X_train.std(axis=0)
    return DemoResult(
        name=name,
        feature_names=feature_names,
        output_names=output_names,
        n_train=X_train.shape[0],
        n_test=X_test.shape[0],
        alpha=float(search.best_params_["alpha"]),
        prior=search.best_params_["prior"],
        alphas=np.sort(np.asarray(DEMO_ALPHAS, dtype=float)),
        cv_rmse=cv_rmse,
        cv_rmse_std=cv_rmse_std,
        inverter=inverter,
        X_test=X_test,
        targets=targets,
        input_scale=input_scale,
        recovered=recovered,
        residual=result.residual,
        converged=result.converged,
        rmse={
            key: _standardized_rmse(X_test, X_hat, input_scale)
            for key, X_hat in recovered.items()
        },
        r2={key: float(r2_score(X_test, X_hat)) for key, X_hat in recovered.items()},
        note=_NOTES.get(name, ""),
    )


def run_demo(random_state=0):
    """Run the demo on every bundled data set.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the splits and folds.

    Returns
    -------
    results : list of DemoResult
        One per data set, diabetes first.
    """
    return [
        run_demo_case(*dataset, random_state=random_state)
        for dataset in _load_datasets()
    ]


_BASELINE_LABELS = {
    "inverter": "LinearInverter",
    "mean": "baseline: training mean",
    "nearest": "baseline: nearest training prediction",
}


def format_report(results, random_state=0):
    """Format the demo results as a plain-text report.

    Parameters
    ----------
    results : list of DemoResult
        Output of :func:`run_demo`.
    random_state : int, default=0
        Seed that produced the results, printed in the header.

    Returns
    -------
    report : str
        Multi-line report, without a trailing newline.
    """
    lines = [
        "skinvert demo: invert held-out targets with a LinearInverter wrapping "
        "StandardScaler + Ridge(alpha=1.0)",
        f"random_state={random_state}. Outputs are standardized with their "
        f"training mean and standard deviation. Alpha and prior are chosen by "
        f"{CV_FOLDS}-fold GridSearchCV on the training rows, minimizing the RMSE "
        "of the recovered inputs.",
    ]
    for result in results:
        n_features = len(result.feature_names)
        n_outputs = len(result.output_names)
        n_converged = int(np.count_nonzero(result.converged))
        lines += [
            "",
            f"{result.name}: {n_features} inputs ({', '.join(result.feature_names)})"
            f" -> {n_outputs} output{'s' if n_outputs > 1 else ''} "
            f"({', '.join(result.output_names)})",
            f"  rows: {result.n_train} training, {result.n_test} held out",
            f"  chosen: alpha={result.alpha:.3g}, prior={result.prior!r}",
            f"  residual of f(x) - y per target, in output standard deviations: "
            f"median {np.median(result.residual):.3f}, "
            f"max {np.max(result.residual):.3f}; "
            f"{n_converged} of {result.n_test} converged",
            "  recovered held-out inputs    RMSE (input std units)      R²",
        ]
        for key, label in _BASELINE_LABELS.items():
            lines.append(
                f"    {label:<39}{result.rmse[key]:>8.3f}{result.r2[key]:>10.3f}"
            )
        if result.note:
            lines.append(f"  note: {result.note}")
    return "\n".join(lines)


def write_figures(results, directory):
    """Write the regularization curve and recovered-vs-true inputs as PNG files.

    Parameters
    ----------
    results : list of DemoResult
        Output of :func:`run_demo`.
    directory : pathlib.Path
        Folder for the figures, created when missing.

    Returns
    -------
    paths : list of pathlib.Path
        Files written, two per data set.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in results:
        figure, axes = plt.subplots(figsize=(6, 4), layout="constrained")
        for prior in DEMO_PRIORS:
            mean, std = result.cv_rmse[prior], result.cv_rmse_std[prior]
            axes.plot(result.alphas, mean, marker="o", label=f"prior={prior!r}")
            axes.fill_between(result.alphas, mean - std, mean + std, alpha=0.2)
        axes.axvline(result.alpha, color="grey", linestyle=":", label="chosen alpha")
        axes.set_xscale("log")
        axes.set_xlabel("alpha")
        axes.set_ylabel("CV RMSE of recovered inputs (input std units)")
        axes.set_title(f"{result.name}: regularization curve")
        axes.legend()
        paths.append(directory / f"{result.name}_regularization.png")
        figure.savefig(paths[-1], dpi=100)
        plt.close(figure)

        n_features = len(result.feature_names)
        n_columns = min(n_features, 5)
        n_rows = -(-n_features // n_columns)
        figure, grid = plt.subplots(
            n_rows,
            n_columns,
            figsize=(2.6 * n_columns, 2.6 * n_rows),
            layout="constrained",
            squeeze=False,
        )
        for j, axes in enumerate(grid.flat):
            if j >= n_features:
                axes.set_visible(False)
                continue
            true, recovered = result.X_test[:, j], result.recovered["inverter"][:, j]
            axes.scatter(true, recovered, s=10)
            span = [min(true.min(), recovered.min()), max(true.max(), recovered.max())]
            axes.plot(span, span, color="grey", linewidth=1)
            axes.set_title(result.feature_names[j])
            axes.set_xlabel("true")
            axes.set_ylabel("recovered")
        figure.suptitle(f"{result.name}: recovered against true held-out inputs")
        paths.append(directory / f"{result.name}_recovered_vs_true.png")
        figure.savefig(paths[-1], dpi=100)
        plt.close(figure)
    return paths
