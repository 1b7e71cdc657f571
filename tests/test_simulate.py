import numpy as np
import pytest

from conftest import simulate
from exprsynth.data.simulate import LABEL_COLUMNS


@pytest.fixture(scope="module")
def cohort():
    return simulate()


def test_default_shape_ids_and_non_negative(cohort):
    expr = cohort.expression
    assert expr.shape == (1000, 500)
    assert expr.index[0] == "SAMPLE_0001" and expr.index[-1] == "SAMPLE_1000"
    assert expr.columns[0] == "GENE_00001" and expr.columns[-1] == "GENE_00500"
    assert (expr.to_numpy() >= 0).all() and np.isfinite(expr.to_numpy()).all()
    assert list(cohort.metadata["sample_id"]) == list(expr.index)
    assert set(cohort.metadata["disease_status"]) == {0, 1}


def test_label_columns_are_the_metadatas_categorical_columns(cohort):
    """What the config check offers as label_column with data.source: simulate."""
    meta = cohort.metadata
    categorical = [c for c in meta.columns if c != "sample_id" and meta[c].nunique() <= 10]
    assert categorical == list(LABEL_COLUMNS)
    assert all(meta[c].nunique() >= 2 for c in LABEL_COLUMNS)


def test_within_module_correlations_fall_in_planted_range(cohort):
    logx = np.log(cohort.expression.to_numpy())
    modules = cohort.modules["module"].to_numpy()
    pairs = []
    for m in np.unique(modules[modules != "background"]):
        c = np.corrcoef(logx[:, modules == m], rowvar=False)
        iu = np.triu_indices(len(c), 1)
        assert 0.6 <= c[iu].mean() <= 0.9, m
        pairs.extend(c[iu])
    pairs = np.array(pairs)
    assert len(pairs) == 10 * 190
    assert np.mean((pairs >= 0.6) & (pairs <= 0.9)) >= 0.99
    background = np.corrcoef(logx[:, modules == "background"][:, :50], rowvar=False)
    assert np.abs(background[np.triu_indices(50, 1)]).mean() < 0.5


def test_label_depends_on_expression(cohort):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = np.log(cohort.expression.to_numpy())
    x = (x - x.mean(0)) / x.std(0)
    y = cohort.metadata["disease_status"].to_numpy()
    auroc = cross_val_score(LogisticRegression(C=0.1, max_iter=2000), x, y, scoring="roc_auc", cv=5)
    assert auroc.mean() > 0.7
    assert 0.3 < y.mean() < 0.5  # prevalence 0.4 requested


def test_same_seed_same_cohort_other_seed_differs():
    a = simulate(n_samples=50, n_genes=30, n_modules=2, module_size=5, disease_modules=1)
    b = simulate(n_samples=50, n_genes=30, n_modules=2, module_size=5, disease_modules=1)
    c = simulate(
        n_samples=50, n_genes=30, n_modules=2, module_size=5, disease_modules=1, random_state=1
    )
    assert a.expression.equals(b.expression) and a.metadata.equals(b.metadata)
    assert not a.expression.equals(c.expression)


def test_impossible_module_layout_is_refused():
    with pytest.raises(ValueError, match="exceeds n_genes"):
        simulate(n_genes=10, n_modules=3, module_size=5)
