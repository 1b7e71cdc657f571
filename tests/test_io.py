import numpy as np
import pandas as pd
import pytest

from exprsynth.io.files import read_expression, round_significant, write_csv, write_expression


def test_expression_writer_gives_the_values_pandas_writes_with_six_digits(tmp_path):
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(size=(50, 7)) * 4)
    x[0, 0], x[1, 1], x[2, 2], x[3, 3] = 0.0, 123456789.123, 1.23456789e-9, 999999.5
    ids = pd.Index([f"S{i}" for i in range(49)] + ['odd,"id'], name="sample_id")
    df = pd.DataFrame(x, index=ids, columns=[f"G{i}" for i in range(6)] + ["g,6"])
    write_csv(df, tmp_path / "pandas.csv", index=True)
    write_expression(df, tmp_path / "arrow.csv", matrix=tmp_path / "x.npz", rows_per_block=16)
    a = pd.read_csv(tmp_path / "pandas.csv", index_col=0)
    b = pd.read_csv(tmp_path / "arrow.csv", index_col=0)
    pd.testing.assert_frame_equal(a, b)
    assert list(b.index) == list(ids) and list(b.columns) == list(df.columns)
    # The workflow's copy (written block by block) holds the CSV's values bit for bit.
    m = read_expression(tmp_path / "x.npz")
    assert np.array_equal(m.to_numpy(), b.to_numpy()) and m.to_numpy().flags.c_contiguous
    assert list(m.index) == list(ids) and list(m.columns) == list(df.columns)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_write_that_fails_partway_leaves_neither_file(tmp_path, monkeypatch):
    """Both files are being written when the second block fails: neither is left, not even
    as a temporary file that a later run could take for complete."""
    import exprsynth.io.files

    blocks = []

    def fail_on_the_second_block(x):
        blocks.append(x)
        if len(blocks) == 2:
            raise RuntimeError("disk full")
        return round_significant(x)

    monkeypatch.setattr(exprsynth.io.files, "round_significant", fail_on_the_second_block)
    df = pd.DataFrame(
        np.ones((3, 2)), index=pd.Index(["S1", "S2", "S3"], name="sample_id"), columns=["a", "b"]
    )
    with pytest.raises(RuntimeError, match="disk full"):
        write_expression(df, tmp_path / "x.csv", matrix=tmp_path / "x.npz", rows_per_block=1)
    assert len(blocks) == 2
    assert not list(tmp_path.iterdir())


def test_round_significant_keeps_six_digits():
    x = np.array([0.0, 1.0, -2.5, 1234567.0, 0.000123456789, 3.14159265])
    np.testing.assert_array_equal(
        round_significant(x), [0.0, 1.0, -2.5, 1234570.0, 0.000123457, 3.14159]
    )
    assert repr(float(round_significant(np.array([0.1234565]))[0])) in ("0.123456", "0.123457")
