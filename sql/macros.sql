-- Macros shared by the models. t_quantile_95(df): the two-sided 95 % quantile of Student's t with df
-- degrees of freedom (exact to 3 decimals for df <= 30, then the next smaller tabulated df: conservative).
CREATE OR REPLACE MACRO t_quantile_95(df) AS (
    CAST(CASE
        WHEN df IS NULL OR df < 1 THEN NULL
        WHEN df <= 30 THEN [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                            2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                            2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042][df::INTEGER]
        WHEN df < 40 THEN 2.042
        WHEN df < 60 THEN 2.021
        WHEN df < 120 THEN 2.000
        ELSE 1.980
    END AS DOUBLE)
);

-- t_two_sided_p(t, df): P(|T| >= |t|) for Student's t with an integer df >= 1 degrees of freedom, the finite
-- series of the t distribution function (Abramowitz & Stegun 26.7.3-4), with theta = atan(|t| / sqrt(df)):
--   even df: P(|T| < |t|) = sin(theta) * sum_{k < df/2} cos(theta)^(2k) * Gamma(k + 1/2) / (sqrt(pi) Gamma(k + 1))
--   odd df:  P(|T| < |t|) = 2/pi * (theta + sin(theta) cos(theta) * sum_{k < (df-1)/2} cos(theta)^(2k)
--                                    * sqrt(pi) Gamma(k + 1) / (2 Gamma(k + 3/2)))
CREATE OR REPLACE MACRO t_two_sided_p(t, df) AS (
    CASE
        WHEN t IS NULL OR df IS NULL OR df < 1 THEN NULL
        WHEN isinf(t) THEN 0.0
        WHEN df % 2 = 0 THEN greatest(0.0, 1 - sin(atan(abs(t) / sqrt(df))) * list_sum(list_transform(
            range(0, (df // 2)::BIGINT),
            lambda k: pow(cos(atan(abs(t) / sqrt(df))), 2 * k) * exp(lgamma(k + 0.5) - lgamma(k + 1) - 0.5 * ln(pi())))))
        ELSE greatest(0.0, 1 - 2 / pi() * (atan(abs(t) / sqrt(df)) + sin(atan(abs(t) / sqrt(df)))
            * cos(atan(abs(t) / sqrt(df))) * coalesce(list_sum(list_transform(
                range(0, ((df - 1) // 2)::BIGINT),
                lambda k: pow(cos(atan(abs(t) / sqrt(df))), 2 * k)
                     * exp(0.5 * ln(pi()) + lgamma(k + 1) - ln(2) - lgamma(k + 1.5)))), 0)))
    END
);

-- scorecard_estimator(): the estimator the scorecard ranks the information measures by (measure_values.estimator):
-- the session variable scorecard_estimator, plugin when it is unset. The scorecard of the corrected rankings is
--   SET VARIABLE scorecard_estimator = 'miller_madow'; SELECT * FROM scorecard
-- (it reads the curves `neuroninfo ablate RUN_ID --estimator miller_madow` made). An unknown name is an error.
CREATE OR REPLACE MACRO scorecard_estimator() AS (
    CASE WHEN coalesce(getvariable('scorecard_estimator'), 'plugin') IN (${estimators})
         THEN coalesce(getvariable('scorecard_estimator'), 'plugin')
         ELSE error('scorecard_estimator ' || getvariable('scorecard_estimator')::VARCHAR || ' is not an estimator; use one of ' || '${estimator_names}') END
);

-- ranked_by(estimators): the estimator a criterion whose values come in ``estimators`` (criteria.estimators) is
-- ranked by in the scorecard: scorecard_estimator() when its values come in it, else plugin (baselines, random).
CREATE OR REPLACE MACRO ranked_by(estimators) AS (
    CASE WHEN list_contains(estimators, scorecard_estimator()) THEN scorecard_estimator() ELSE 'plugin' END
);
