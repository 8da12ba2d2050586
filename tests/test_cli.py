"""Tests of the ``skinvert`` command line: the demo and ``skinvert invert``."""

import csv
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skinvert import LinearInverter
from skinvert._cli import main
from skinvert._demo import DEMO_ALPHAS, TEST_SIZE, run_demo

N_FEATURES = 3
N_OUTPUTS = 5


def run_main(argv, capsys):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_csv(path, values, header=None):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header is not None:
            writer.writerow(header)
        writer.writerows([[repr(float(v)) for v in row] for row in values])
    return path


def read_result(path):
    frame = pd.read_csv(path)
    return frame, frame.drop(columns=["residual", "converged"]).to_numpy()


@pytest.fixture(scope="module")
def affine_data():
    """Inputs and exact outputs of an injective affine map (5 outputs, 3 inputs)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, N_FEATURES)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    A = rng.normal(size=(N_OUTPUTS, N_FEATURES))
    Y = X @ A.T + rng.normal(size=N_OUTPUTS)
    return X, Y


@pytest.fixture
def inverter_file(tmp_path, affine_data):
    X, Y = affine_data
    inverter = LinearInverter(LinearRegression()).fit(X, Y)
    path = tmp_path / "inverter.skops"
    skops.io.dump(inverter, path)
    return path


@pytest.fixture
def targets_file(tmp_path, affine_data):
    X, Y = affine_data
    return write_csv(tmp_path / "targets.csv", Y[:10])


@pytest.fixture(scope="module")
def demo_results():
    return {result.name: result for result in run_demo(random_state=0)}


def test_demo_diabetes_beats_mean_baseline(demo_results):
    result = demo_results["diabetes"]
    data = load_diabetes()
    X_train, X_test, Y_train, Y_test = train_test_split(
        data.data, data.target.reshape(-1, 1), test_size=TEST_SIZE, random_state=0
    )
    scale = X_train.std(axis=0)
    mean_rmse = np.sqrt(np.mean(((X_test - X_train.mean(axis=0)) / scale) ** 2))
    X_hat = result.recovered["inverter"]
    inverter_rmse = np.sqrt(np.mean(((X_hat - X_test) / scale) ** 2))

    np.testing.assert_array_equal(result.X_test, X_test)
    assert result.rmse["mean"] == pytest.approx(mean_rmse, rel=1e-12)
    assert result.rmse["inverter"] == pytest.approx(inverter_rmse, rel=1e-12)
    assert result.rmse["inverter"] < 0.97 * mean_rmse
    assert result.r2["inverter"] > 0.05
    assert result.r2["mean"] < 0.0
    assert result.rmse["inverter"] < result.rmse["nearest"]
    assert result.alpha in DEMO_ALPHAS
    assert "partial" in result.note


def test_demo_residual_matches_forward_error(demo_results):
    for result in demo_results.values():
        Y_hat = result.inverter.transform(result.recovered["inverter"])
        residual = np.sqrt(np.mean((Y_hat - result.targets) ** 2, axis=1))
        np.testing.assert_allclose(result.residual, residual, rtol=1e-10)
        assert result.converged.all()


def test_demo_targets_standardized_by_training_outputs(demo_results):
    result = demo_results["diabetes"]
    data = load_diabetes()
    _, _, Y_train, Y_test = train_test_split(
        data.data, data.target.reshape(-1, 1), test_size=TEST_SIZE, random_state=0
    )
    expected = StandardScaler().fit(Y_train).transform(Y_test)
    np.testing.assert_allclose(result.targets, expected)


def test_demo_linnerud_scores_consistent(demo_results):
    result = demo_results["linnerud"]
    for key, X_hat in result.recovered.items():
        rmse = np.sqrt(np.mean(((X_hat - result.X_test) / result.input_scale) ** 2))
        assert result.rmse[key] == pytest.approx(rmse)
        assert result.r2[key] == pytest.approx(r2_score(result.X_test, X_hat))
    assert set(result.cv_rmse) == {"diag", "full"}
    chosen = np.argmin(result.cv_rmse[result.prior])
    assert result.alphas[chosen] == pytest.approx(result.alpha)


def test_demo_prints_report_and_plots(tmp_path, capsys):
    code, out, err = run_main(["demo", "--plot", tmp_path / "figures"], capsys)

    assert code == 0, err
    assert "diabetes: 10 inputs" in out
    assert "linnerud: 3 inputs" in out
    assert "baseline: training mean" in out
    assert "partial by nature" in out
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_demo_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run_main(["demo", "--plot", tmp_path], capsys)

    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("skinvert: error: ")
    assert "pip install 'skinvert[plot]'" in err
    assert out == ""


def test_module_entry_runs_demo():
    completed = subprocess.run(
        [sys.executable, "-m", "skinvert", "demo", "--random-state", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "random_state=1" in completed.stdout
    assert "diabetes" in completed.stdout


@pytest.mark.parametrize("header", [None, [f"y{i}" for i in range(N_OUTPUTS)]])
def test_invert_round_trip_exact(tmp_path, capsys, affine_data, inverter_file, header):
    X, Y = affine_data
    targets = write_csv(tmp_path / "targets.csv", Y[:10], header)
    out = tmp_path / "out.csv"

    code, _, err = run_main(["invert", inverter_file, targets, "-o", out], capsys)

    assert code == 0, err
    frame, X_hat = read_result(out)
    assert list(frame.columns) == ["x0", "x1", "x2", "residual", "converged"]
    np.testing.assert_allclose(X_hat, X[:10], rtol=0, atol=1e-8)
    assert (frame["residual"] < 1e-8).all()
    assert frame["converged"].all()


def test_invert_reorders_named_targets(tmp_path, capsys, affine_data):
    X, Y = affine_data
    inputs = pd.DataFrame(X, columns=["a", "b", "c"])
    outputs = pd.DataFrame(Y, columns=[f"y{i}" for i in range(N_OUTPUTS)])
    model = tmp_path / "named.skops"
    skops.io.dump(LinearInverter(LinearRegression()).fit(inputs, outputs), model)
    order = [3, 0, 4, 1, 2]
    targets = write_csv(tmp_path / "t.csv", Y[:5, order], [f"y{i}" for i in order])
    out = tmp_path / "out.csv"

    code, _, err = run_main(["invert", model, targets, "-o", out], capsys)

    assert code == 0, err
    frame, X_hat = read_result(out)
    assert list(frame.columns[:3]) == ["a", "b", "c"]
    np.testing.assert_allclose(X_hat, X[:5], rtol=0, atol=1e-8)


def test_invert_warns_partly_named_targets(tmp_path, capsys, affine_data):
    X, Y = affine_data
    outputs = pd.DataFrame(Y, columns=[f"y{i}" for i in range(N_OUTPUTS)])
    model = tmp_path / "named.skops"
    skops.io.dump(LinearInverter(LinearRegression()).fit(X, outputs), model)
    header = ["y1", "y0", "y2", "y3", "other"]
    targets = write_csv(tmp_path / "t.csv", Y[:3], header)
    out = tmp_path / "out.csv"

    code, _, err = run_main(["invert", model, targets, "-o", out], capsys)

    assert code == 0, err
    assert "names some of the model's columns" in err
    assert "missing: y4" in err


def test_invert_refuses_to_overwrite_input(
    tmp_path, capsys, inverter_file, targets_file
):
    code, out, err = run_main(
        ["invert", inverter_file, targets_file, "-o", targets_file], capsys
    )

    assert code == 2
    assert "is also an input file" in err
    assert err.count("\n") == 1


def test_invert_plain_model_with_data(tmp_path, capsys, affine_data, targets_file):
    X, Y = affine_data
    model = tmp_path / "regressor.skops"
    skops.io.dump(LinearRegression().fit(X, Y), model)
    data = write_csv(tmp_path / "train.csv", X, ["a", "b", "c"])
    out = tmp_path / "out.csv"

    code, _, err = run_main(
        ["invert", model, targets_file, "-o", out, "--data", data], capsys
    )

    assert code == 0, err
    frame, X_hat = read_result(out)
    assert list(frame.columns[:3]) == ["a", "b", "c"]
    np.testing.assert_allclose(X_hat, X[:10], rtol=0, atol=1e-8)


def test_invert_plain_model_needs_data(tmp_path, capsys, affine_data, targets_file):
    X, Y = affine_data
    model = tmp_path / "regressor.skops"
    skops.io.dump(LinearRegression().fit(X, Y), model)

    code, _, err = run_main(
        ["invert", model, targets_file, "-o", tmp_path / "out.csv"], capsys
    )

    assert code == 2
    assert err.count("\n") == 1
    assert "--data TRAIN_CSV" in err


def test_invert_pickle_needs_trust_flag(tmp_path, capsys, affine_data, targets_file):
    X, Y = affine_data
    model = tmp_path / "inverter.pkl"
    joblib.dump(LinearInverter(LinearRegression()).fit(X, Y), model)
    out = tmp_path / "out.csv"

    code, _, err = run_main(["invert", model, targets_file, "-o", out], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "--trust-pickle" in err
    assert not out.exists()

    code, _, err = run_main(
        ["invert", model, targets_file, "-o", out, "--trust-pickle"], capsys
    )
    assert code == 0, err
    np.testing.assert_allclose(read_result(out)[1], X[:10], rtol=0, atol=1e-8)


def test_invert_untrusted_type_then_not_affine(
    tmp_path, capsys, affine_data, targets_file
):
    X, Y = affine_data
    model = tmp_path / "forest.skops"
    forest = RandomForestRegressor(n_estimators=2, max_depth=3, random_state=0)
    skops.io.dump(forest.fit(X, Y), model)
    data = write_csv(tmp_path / "train.csv", X)
    argv = ["invert", model, targets_file, "-o", tmp_path / "out.csv", "--data", data]

    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "sklearn.tree._tree.Tree" in err
    assert "--trust TYPE" in err

    code, _, err = run_main([*argv, "--trust", "sklearn.tree._tree.Tree"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "not affine" in err


def test_invert_bounds_refit_from_data(tmp_path, capsys, affine_data, inverter_file):
    X, Y = affine_data
    data = write_csv(tmp_path / "train.csv", X)
    outside = X.max(axis=0) + 1.0
    inside = X[0]
    inverter = LinearInverter(LinearRegression()).fit(X, Y)
    targets = write_csv(
        tmp_path / "t.csv", inverter.transform(np.array([outside, inside]))
    )
    out = tmp_path / "out.csv"

    code, _, err = run_main(
        [
            "invert",
            inverter_file,
            targets,
            "-o",
            out,
            "--data",
            data,
            "--bounds",
            "data",
        ],
        capsys,
    )

    assert code == 0, err
    frame, X_hat = read_result(out)
    assert np.all(X_hat <= X.max(axis=0))
    np.testing.assert_allclose(X_hat[1], inside, atol=1e-8)
    assert list(frame["converged"]) == [False, True]
    assert "1 of 2 targets did not converge" in err
    assert err.count("\n") == 1


def test_invert_alpha_shrinks_toward_mean(tmp_path, capsys, affine_data, inverter_file):
    X, Y = affine_data
    data = write_csv(tmp_path / "train.csv", X)
    targets = write_csv(tmp_path / "t.csv", Y[:10])
    out = tmp_path / "out.csv"

    code, _, err = run_main(
        ["invert", inverter_file, targets, "-o", out, "--data", data, "--alpha", "1e6"],
        capsys,
    )

    assert code == 0, err
    X_hat = read_result(out)[1]
    expected = LinearInverter(LinearRegression(), alpha=1e6).fit(X, Y)
    np.testing.assert_allclose(X_hat, expected.inverse_transform(Y[:10]), atol=1e-8)
    assert np.abs(X_hat - X.mean(axis=0)).max() < np.abs(X[:10] - X.mean(axis=0)).max()


def test_invert_warns_data_ignored(tmp_path, capsys, affine_data, inverter_file):
    X, Y = affine_data
    data = write_csv(tmp_path / "train.csv", X)
    targets = write_csv(tmp_path / "t.csv", Y[:3])

    code, _, err = run_main(
        ["invert", inverter_file, targets, "-o", tmp_path / "o.csv", "--data", data],
        capsys,
    )

    assert code == 0
    assert err.startswith("skinvert: warning: --data is ignored")


def test_invert_help_explains_pickle_risk(capsys):
    code, out, _ = run_main(["invert", "--help"], capsys)

    assert code == 0
    assert "arbitrary code" in out


def _error_cases(tmp_path, affine_data, inverter_file):
    X, Y = affine_data
    good = write_csv(tmp_path / "good.csv", Y[:3])

    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip file")
    dict_model = tmp_path / "dict.skops"
    skops.io.dump({"coef": [1.0]}, dict_model)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "text.csv").write_text("1,2,3,4,5\n1,oops,3,4,5\n")
    (tmp_path / "ragged.csv").write_text("1,2,3,4,5\n1,2,3\n")
    write_csv(tmp_path / "narrow.csv", Y[:3, :2])
    write_csv(tmp_path / "nan.csv", [[1.0, 2.0, 3.0, 4.0, np.nan]])
    (tmp_path / "damaged.pkl").write_bytes(b"not a pickle")
    unfitted = tmp_path / "unfitted.skops"
    skops.io.dump(LinearInverter(LinearRegression()), unfitted)
    named = tmp_path / "named.skops"
    skops.io.dump(
        LinearRegression().fit(pd.DataFrame(X, columns=["a", "b", "c"]), Y), named
    )
    wrong_header = write_csv(tmp_path / "wrong.csv", X, ["a", "b", "z"])

    out = ["-o", tmp_path / "out.csv"]
    return {
        "missing model": (["invert", tmp_path / "no.skops", good, *out], "not found"),
        "missing targets": (
            ["invert", inverter_file, tmp_path / "no.csv", *out],
            "not found",
        ),
        "column count": (
            ["invert", inverter_file, tmp_path / "narrow.csv", *out],
            "has 2 columns, but the model has 5 outputs",
        ),
        "not a number": (
            ["invert", inverter_file, tmp_path / "text.csv", *out],
            "line 2, column 2: 'oops' is not a finite number",
        ),
        "ragged rows": (
            ["invert", inverter_file, tmp_path / "ragged.csv", *out],
            "line 2: 3 fields",
        ),
        "empty targets": (
            ["invert", inverter_file, tmp_path / "empty.csv", *out],
            "no data rows",
        ),
        "unloadable model": (["invert", garbage, good, *out], "cannot load MODEL"),
        "unknown suffix": (
            ["invert", tmp_path / "good.csv", good, *out],
            "unknown suffix '.csv'",
        ),
        "not a model": (["invert", dict_model, good, *out], "neither an inverter"),
        "missing output": (["invert", inverter_file, good], "-o/--output"),
        "negative alpha": (
            ["invert", inverter_file, good, *out, "--alpha", "-1"],
            "argument --alpha",
        ),
        "alpha without data": (
            ["invert", inverter_file, good, *out, "--alpha", "1"],
            "--data TRAIN_CSV",
        ),
        "output folder missing": (
            ["invert", inverter_file, good, "-o", tmp_path / "no" / "out.csv"],
            "cannot write OUT",
        ),
        "no command": ([], "required: COMMAND"),
        "not finite": (
            ["invert", inverter_file, tmp_path / "nan.csv", *out],
            "column 5: 'nan' is not a finite number",
        ),
        "damaged pickle": (
            ["invert", tmp_path / "damaged.pkl", good, *out, "--trust-pickle"],
            "cannot load MODEL",
        ),
        "unfitted model": (["invert", unfitted, good, *out], "unfitted LinearInverter"),
        "data header mismatch": (
            ["invert", named, good, *out, "--data", wrong_header],
            "lacks the model's input column(s) c",
        ),
    }


def test_invert_errors_one_line_exit_2(tmp_path, capsys, affine_data, inverter_file):
    for name, (argv, expected) in _error_cases(
        tmp_path, affine_data, inverter_file
    ).items():
        code, out, err = run_main(argv, capsys)

        assert code == 2, name
        assert err.startswith("skinvert: error: "), (name, err)
        assert err.count("\n") == 1, (name, err)
        assert expected in err, (name, err)
        assert out == "", name
