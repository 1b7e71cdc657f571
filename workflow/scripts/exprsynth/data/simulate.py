"""Simulated bulk expression cohort with known structure (docs/design.md, "The simulated cohort").

Built in log space: co-expression modules with a planted within-module correlation,
a batch effect and continuous global factors touching every gene, cell-type-like
subpopulations shifting the background genes, technical noise,
and a disease label that is a logistic function of a few modules' activity. Then
exponentiated, so values are non-negative with log-normal marginals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


# The metadata's categorical columns: what label_column can name for a simulated cohort.
LABEL_COLUMNS = ("disease_status", "batch", "cell_type")


@dataclass(frozen=True)
class SimulatedCohort:
    expression: pd.DataFrame  # samples x genes, index sample_id
    metadata: pd.DataFrame  # sample_id, LABEL_COLUMNS, factor_*, module activity
    modules: pd.DataFrame  # gene_id, module ("background" outside modules), target_correlation


def simulate_cohort(
    *,
    n_samples: int,
    n_genes: int,
    n_modules: int,
    module_size: int,
    correlation_range: tuple[float, float],
    n_batches: int,
    n_factors: int,
    factor_strength: float,
    n_cell_types: int,
    cell_type_effect: float,
    technical_noise: float,
    disease_modules: int,
    disease_effect: float,
    prevalence: float,
    random_state: int,
) -> SimulatedCohort:
    """Draw one cohort; the same arguments always give the same cohort. The defaults are
    the config schema's `simulate` section (`exprsynth.config.section_settings("simulate")`)."""
    if n_modules * module_size > n_genes:
        raise ValueError(
            f"n_modules * module_size = {n_modules * module_size} exceeds n_genes = {n_genes}"
        )
    if disease_modules > n_modules:
        raise ValueError(f"disease_modules = {disease_modules} exceeds n_modules = {n_modules}")
    rng = np.random.default_rng(random_state)
    lo, hi = correlation_range

    baseline = rng.normal(3.0, 1.2, n_genes)  # log-scale mean level per gene
    spread = rng.uniform(0.5, 1.2, n_genes)  # log-scale standard deviation per gene

    # Global effects and technical noise scale with each gene's spread, so a gene's
    # within-module correlation is planted exactly up to the known attenuation below.
    batch = rng.integers(0, n_batches, n_samples)
    batch_loadings = rng.normal(0.0, factor_strength, (n_batches, n_genes))
    factors = rng.normal(0.0, 1.0, (n_samples, n_factors))
    factor_loadings = rng.normal(0.0, factor_strength, (n_factors, n_genes))
    nuisance_var = n_factors * factor_strength**2 + technical_noise**2
    if n_batches > 1:
        nuisance_var += factor_strength**2 * (1 - 1 / n_batches)

    # Cell-type-like subpopulations shift the background genes, so their marginals are
    # mixtures and they correlate through the shared type: structure a single Gaussian
    # misses. Module genes are left out, so their planted correlation stays as drawn.
    cell_type = rng.integers(0, n_cell_types, n_samples)
    type_shift = rng.normal(0.0, cell_type_effect, (n_cell_types, n_genes))
    type_shift[:, : n_modules * module_size] = 0.0

    module_of_gene = np.full(n_genes, -1)
    target = np.full(n_genes, np.nan)
    activity = rng.normal(0.0, 1.0, (n_samples, n_modules))
    z = rng.normal(0.0, 1.0, (n_samples, n_genes))  # private part of each gene
    # Shrink the targets slightly so sampling noise keeps observed pairs inside the range.
    margin = 0.15 * (hi - lo)
    for m in range(n_modules):
        genes = np.arange(m * module_size, (m + 1) * module_size)
        r = rng.uniform(lo + margin, hi - margin)
        rho = min(r * (1 + nuisance_var), 0.999)  # undo the attenuation by nuisance terms
        z[:, genes] = np.sqrt(rho) * activity[:, [m]] + np.sqrt(1 - rho) * z[:, genes]
        module_of_gene[genes] = m
        target[genes] = r

    log_expr = baseline + spread * (
        z
        + batch_loadings[batch]
        + type_shift[cell_type]
        + factors @ factor_loadings
        + rng.normal(0.0, technical_noise, (n_samples, n_genes))
    )
    expression = np.exp(log_expr)

    # Disease: logistic in the activity of the first `disease_modules` modules, with the
    # intercept chosen so that the expected prevalence matches the request.
    score = (
        disease_effect
        * activity[:, :disease_modules].sum(axis=1)
        / np.sqrt(max(disease_modules, 1))
    )
    intercept = _intercept_for_prevalence(score, prevalence)
    p = 1 / (1 + np.exp(-(score + intercept)))
    disease = (rng.uniform(size=n_samples) < p).astype(int)

    sample_ids = [f"SAMPLE_{i + 1:04d}" for i in range(n_samples)]
    gene_ids = [f"GENE_{j + 1:05d}" for j in range(n_genes)]
    expr_df = pd.DataFrame(
        expression, index=pd.Index(sample_ids, name="sample_id"), columns=gene_ids
    )
    meta = pd.DataFrame(
        {"sample_id": sample_ids, "disease_status": disease, "batch": batch, "cell_type": cell_type}
    )
    for k in range(n_factors):
        meta[f"factor_{k + 1}"] = factors[:, k]
    for m in range(n_modules):
        meta[f"module_{m + 1:02d}_activity"] = activity[:, m]
    modules = pd.DataFrame(
        {
            "gene_id": gene_ids,
            "module": [f"module_{m + 1:02d}" if m >= 0 else "background" for m in module_of_gene],
            "target_correlation": target,
        }
    )
    return SimulatedCohort(expr_df, meta, modules)


def _intercept_for_prevalence(score: np.ndarray, prevalence: float) -> float:
    """Bisect the intercept b so that mean(sigmoid(score + b)) equals the prevalence."""
    lo, hi = -50.0, 50.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(score + mid)))) < prevalence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
