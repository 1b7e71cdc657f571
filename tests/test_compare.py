import numpy as np
import pandas as pd
import pytest

from exprsynth.evaluation.compare import confidence_interval, summarise

RATIO = 0.25  # n_test / n_train of the default 80/20 split


def summary(per_replicate, ratio=RATIO):
    return summarise(per_replicate, test_train_ratio=ratio)[0]


def verdict(per_replicate, **kwargs):
    from exprsynth.reporting.verdict import verdict_rst

    return verdict_rst(
        *summarise(per_replicate, test_train_ratio=RATIO), test_train_ratio=RATIO, **kwargs
    )


def table(values: dict[str, list[float]], metric="gamma", floor=0.9):
    rows = [
        {"replicate": r, "model": m, "metric": metric, "value": v, "floor": floor}
        for m, vs in values.items()
        for r, v in enumerate(vs)
    ]
    return pd.DataFrame(rows)


def test_mean_and_t_interval_match_hand_computation():
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half-width 4.302653 / sqrt(3)
    lo, hi = confidence_interval(np.array([1.0, 2.0, 3.0]))
    assert lo == pytest.approx(2 - 2.484138, abs=1e-5) and hi == pytest.approx(
        2 + 2.484138, abs=1e-5
    )
    assert np.isnan(confidence_interval(np.array([1.0]))[0])


def test_consistent_difference_names_a_winner():
    s = summary(table({"vae": [0.80, 0.82, 0.81, 0.83], "gan": [0.50, 0.51, 0.53, 0.52]}))
    row = s[s.model == "vae"].iloc[0]
    assert row["mean"] == pytest.approx(0.815) and row["n_replicates"] == 4
    assert row["winner"] == "vae" and row["p_value"] < 0.001 and row["better"] == "higher"


def test_overlapping_results_have_no_clear_winner():
    s = summary(table({"vae": [0.80, 0.60, 0.75], "gan": [0.70, 0.72, 0.68]}))
    assert set(s["winner"]) == {"no clear winner"}
    assert s["leader"].iloc[0] == "vae"


def test_single_replicate_never_claims_a_winner():
    s = summary(table({"vae": [0.9], "gan": [0.1]}))
    assert set(s["winner"]) == {"no clear winner"} and s["leader"].iloc[0] == "vae"


def test_lower_is_better_and_closer_to_floor_orientations():
    s = summary(table({"vae": [0.1, 0.11, 0.12], "gan": [0.5, 0.52, 0.55]}, metric="ks_mean"))
    assert s["winner"].iloc[0] == "vae"
    # diversity: the floor is 10; gan overshoots by more than vae undershoots
    s = summary(
        table({"vae": [9.0, 9.1, 8.9], "gan": [14.0, 14.2, 13.9]}, metric="diversity", floor=10.0)
    )
    assert s["winner"].iloc[0] == "vae"


def test_constant_difference_needs_three_replicates_to_count():
    from exprsynth.evaluation.compare import resampled_t_test

    def paired_test(a, b):
        return resampled_t_test(a, b, RATIO)

    assert np.isnan(paired_test(np.array([0.5, 0.6]), np.array([0.495, 0.595])))
    assert np.isnan(paired_test(np.array([0.1, 0.2]), np.array([0.2, 0.3])))  # equal up to rounding
    assert paired_test(np.array([0.5, 0.6, 0.7]), np.array([0.4, 0.5, 0.6])) == 0.0
    assert paired_test(np.array([0.5, 0.6]), np.array([0.5, 0.6])) == 1.0


def test_adjusted_p_values_match_benjamini_hochberg_by_hand():
    from exprsynth.evaluation.compare import adjust_p_values

    # sorted 0.01, 0.02, 0.03, 0.5 of 4 tests: 0.04, 0.04 (0.02 * 4/2), 0.04, 0.5; NaN untested
    p = adjust_p_values(np.array([0.03, np.nan, 0.01, 0.5, 0.02]))
    np.testing.assert_allclose(p, [0.04, np.nan, 0.04, 0.5, 0.04])


def test_a_winner_must_survive_the_adjustment_over_all_metrics():
    """p ~ 0.02 alone names a winner; next to 8 metrics without a difference it does not."""
    clear = table({"vae": [0.80, 0.77, 0.82, 0.79], "gan": [0.70, 0.72, 0.69, 0.74]})
    alone = summary(clear, ratio=0)  # the plain paired test: this checks the adjustment
    assert 0.01 < alone["p_value"].iloc[0] < 0.05 and alone["winner"].iloc[0] == "vae"
    rng = np.random.default_rng(0)
    noise = [
        table(
            {"vae": list(rng.normal(0.5, 0.05, 4)), "gan": list(rng.normal(0.5, 0.05, 4))}, metric=m
        )
        for m in [
            "mean_mse",
            "std_mse",
            "wasserstein",
            "ks_mean",
            "mmd",
            "recall",
            "precision",
            "coverage",
        ]
    ]
    crowd = summary(pd.concat([clear, *noise]), ratio=0)
    row = crowd[crowd.metric == "gamma"].iloc[0]
    assert row["p_value"] == alone["p_value"].iloc[0] and row["p_adjusted"] > 0.05
    assert row["winner"] == "no clear winner" and row["leader"] == "vae"


def test_the_leader_comes_from_the_replicates_both_models_have():
    """A replicate where only one model has a value must not decide who leads."""
    s = summary(
        table({"vae": [0.99, 0.60, 0.60, 0.61, 0.60], "gan": [np.nan, 0.65, 0.66, 0.65, 0.66]})
    )
    assert s["leader"].iloc[0] == "gan" and s["winner"].iloc[0] == "gan"


def test_verdict_names_winners_and_where_references_win():

    per_rep = pd.concat(
        [
            table(
                {
                    "vae": [0.70, 0.72, 0.71],
                    "gan": [0.95, 0.96, 0.97],
                    "gaussian": [0.60, 0.61, 0.62],
                },
                "c2st_gbt",
                0.5,
            ),
            table(
                {
                    "vae": [0.85, 0.86, 0.84],
                    "gan": [0.60, 0.62, 0.61],
                    "gaussian": [0.80, 0.81, 0.79],
                },
                "gamma",
                0.9,
            ),
        ]
    )
    text = verdict(per_rep)
    assert "**3 replicates**" in text
    assert "**VAE wins** on 2 metrics: c2st_gbt, gamma." in text
    # Baselines first: the networks against the best reference, before VAE against GAN.
    assert text.index("Do the networks beat the references?") < text.index("VAE against GAN")
    assert (
        "- **VAE** beats the best reference on 1 metric: gamma (Gaussian reference, p < 0.001)"
        in text
    )
    assert (
        "the best reference beats it on 1 metric: c2st_gbt (Gaussian reference, p 0.0058)" in text
    )
    assert "- **GAN** beats the best reference on 0 metrics" in text
    # and against each reference by name, each metric with its adjusted p
    assert (
        "  - against the Gaussian reference: better on 1 metric (gamma (p < 0.001)), worse on "
        "1 metric (c2st_gbt (p 0.0058)), no clear difference on 0 metrics." in text
    )
    assert (
        "- **GAN** beats" in text
        and "  - against the Gaussian reference: better on 0 metrics, worse on 2 metrics" in text
    )
    assert (
        "corrected resampled t-test (Nadeau & Bengio, 2003)" in text and "(1/3 + 0.25) s²" in text
    )
    assert "adjusting for the 6 tests made together" in text  # 3 pairs x 2 metrics
    assert "GAN vs Gaussian reference 0               2" in text
    assert "0.71 [" in text  # VAE's c2st mean with its interval


def test_verdict_says_what_was_scored_and_what_could_not_be():

    per_rep = pd.concat(
        [
            table({"vae": [0.70, 0.72, 0.71], "gan": [0.95, 0.96, 0.97]}, "c2st_gbt", 0.5),
            table({"vae": [np.nan] * 3, "gan": [np.nan] * 3}, "augmentation_gain", np.nan),
        ]
    )
    held_out = verdict(per_rep)
    assert "against a held-out test split" in held_out and "real training vs real test" in held_out
    assert "**Not computed** on this data (NaN for both): augmentation_gain." in held_out
    assert "VAE (p < 0.001)" in held_out  # the winner column names models as the header does
    on_train = verdict(per_rep, against="train")
    assert "held-out" not in on_train and "the training split they were trained on" in on_train
    one_side = verdict(table({"vae": [0.60, 0.61, 0.62], "gan": [np.nan] * 3}, "de_slope", 0.68))
    assert "Not computed" not in one_side  # the VAE has values: only the GAN's are missing
    single = verdict(table({"vae": [0.7], "gan": [0.9]}, "c2st_gbt", 0.5))
    assert "adjusted" not in single  # nothing was tested, so nothing was adjusted


def test_intervals_stay_within_what_the_metric_can_take():
    """Three replicates of a recall near 1: the t-interval would reach past 1."""
    s = summary(
        table({"vae": [1.0, 0.92, 0.99], "gan": [0.5, 0.15, 0.3]}, "recall", 0.95)
    ).set_index("model")
    assert s.loc["vae", "ci_high"] == 1.0 and 0.8 < s.loc["vae", "ci_low"] < 0.97
    assert s.loc["gan", "ci_low"] == 0.0 and s.loc["gan", "ci_high"] < 1.0
    free = summary(table({"vae": [1.0, 0.92, 0.99], "gan": [0.5, 0.05, 0.3]}, "de_slope", 0.7))
    assert free.set_index("model").loc["vae", "ci_high"] > 1.0  # a slope has no bound


def test_the_corrected_resampled_t_test_matches_hand_computation():
    """d = 0.1, 0.2, 0.3, 0.2, 0.2: mean 0.2, s^2 = 0.005; J = 5, ratio 0.25:
    t = 0.2 / sqrt((1/5 + 0.25) * 0.005) = 4.2164, two-sided p with 4 df = 0.01351."""
    from exprsynth.evaluation.compare import resampled_t_test

    a = np.array([0.6, 0.7, 0.8, 0.7, 0.7])
    b = a - np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    assert resampled_t_test(a, b, 0.25) == pytest.approx(0.01351, abs=2e-5)
    # ratio 0 is the plain paired t-test: t = 0.2 / sqrt(0.005 / 5) = 6.3246, p = 0.003198
    assert resampled_t_test(a, b, 0.0) == pytest.approx(0.003198, abs=2e-6)


def test_the_correction_can_turn_a_winner_into_no_clear_winner():
    """Planted: a difference the plain paired test calls at p ~ 0.02 is, with the correction
    for overlapping training sets, not a winner."""
    clear = table({"vae": [0.80, 0.77, 0.82, 0.79], "gan": [0.70, 0.72, 0.69, 0.74]})
    plain, corrected = summary(clear, ratio=0).iloc[0], summary(clear).iloc[0]
    assert plain["winner"] == "vae" and plain["p_value"] < 0.05
    assert corrected["winner"] == "no clear winner" and corrected["p_value"] > 0.05


def test_every_pair_is_tested_and_adjusted_together():
    per_rep = pd.concat(
        [
            table(
                {
                    "vae": [0.70, 0.72, 0.71, 0.70],
                    "gan": [0.95, 0.96, 0.97, 0.96],
                    "gaussian": [0.60, 0.62, 0.61, 0.63],
                },
                "c2st_gbt",
                0.5,
            ),
            table(
                {
                    "vae": [0.85, 0.86, 0.84, 0.85],
                    "gan": [0.60, 0.62, 0.61, 0.6],
                    "gaussian": [0.80, 0.81, 0.79, 0.8],
                },
                "gamma",
                0.9,
            ),
        ]
    )
    _, pairs = summarise(per_rep, test_train_ratio=RATIO)
    assert list(zip(pairs.model_a, pairs.model_b))[:3] == [
        ("vae", "gan"),
        ("vae", "gaussian"),
        ("gan", "gaussian"),
    ]
    assert len(pairs) == 6
    from exprsynth.evaluation.compare import adjust_p_values

    np.testing.assert_allclose(pairs.p_adjusted, adjust_p_values(pairs.p_value.to_numpy()))
    row = pairs[
        (pairs.metric == "c2st_gbt") & (pairs.model_b == "gaussian") & (pairs.model_a == "gan")
    ].iloc[0]
    assert row.leader == "gaussian" and row.winner == "gaussian"


def test_intervals_are_widened_as_the_test_is():
    """Replicates that re-split one cohort: the interval's standard error is
    sqrt((1/J + n_test/n_train) s^2), not sqrt(s^2 / J)."""
    values = np.array([1.0, 2.0, 3.0])  # mean 2, s = 1, t(0.975, 2) = 4.302653
    lo, hi = confidence_interval(values, test_train_ratio=0.25)
    assert hi - 2 == pytest.approx(
        4.302653 * np.sqrt(1 / 3 + 0.25), abs=1e-5
    ) and 2 - lo == pytest.approx(hi - 2)


def test_the_duel_is_found_whatever_the_order_of_models():
    per_rep = table({"gan": [0.50, 0.51, 0.53, 0.52], "vae": [0.80, 0.82, 0.81, 0.83]})
    s = summary(per_rep)
    assert set(s["winner"]) == {"vae"} and (s["p_value"] < 0.01).all()


def test_verdict_without_both_networks_has_no_duel_column():
    per_rep = table({"vae": [0.70, 0.72, 0.71], "gaussian": [0.60, 0.61, 0.62]}, "c2st_gbt", 0.5)
    text = verdict(per_rep)
    assert "VAE vs GAN" not in text and "winner (p)" not in text
    assert (
        "**VAE** beats the best reference on 0 metrics; the best reference beats it on 1 metric"
        in text
    )


def test_a_collapsed_generators_perfect_precision_does_not_win():
    """Samples bunched in the densest region all lie inside the real manifold: precision 1
    (recall near 0). Precision is best at the floor, so the generator at the floor wins."""
    s = summary(
        table({"vae": [0.89, 0.90, 0.88, 0.91], "gan": [1.0, 1.0, 1.0, 1.0]}, "precision", 0.9)
    )
    assert s["better"].iloc[0] == "closer-to-floor" and s["winner"].iloc[0] == "vae"


def test_the_verdict_states_each_tuned_generators_budget_and_the_tuned_run_against_its_default():
    per_rep = table(
        {
            "vae": [0.80, 0.82, 0.81],
            "vae-tuned": [0.70, 0.71, 0.72],
            "gaussian": [0.95, 0.96, 0.97],
        },
        "c2st_gbt",
        0.5,
    )

    def search(exhausted, spent, default, chosen):
        return {
            "settings": {"lr": 0.00123456, "hidden": [256, 256]},
            "validation_auroc": {"default": default, "chosen": chosen},
            "budget": {
                "trials": 16,
                "trials_run": 9,
                "cpu_seconds": 120,
                "cpu_seconds_spent": spent,
                "exhausted": exhausted,
            },
        }

    tuning = {
        "vae": [
            search(True, 121, 0.8, 0.7),
            search(False, 90, 0.9, 0.6),
            search(True, 125, 0.7, 0.7),
        ]
    }
    text = verdict(per_rep, tuning=tuning)
    assert "same budget per replicate: 16 trials and 120 CPU-seconds" in text
    assert (
        "- **VAE**: 9 trials and 121 CPU-seconds per replicate (median); the CPU budget ended the "
        "search in 2 of 3 replicates. Validation AUROC 0.800 at the config's settings, 0.700 "
        "chosen (medians). On the test split, tuned against default: better on 1 metric "
        "(c2st_gbt (p" in text
    )
    assert "  - chosen in the first replicate: lr 0.00123, hidden [256, 256]." in text
    assert "VAE (tuned)" in text  # its own column in the headline table
