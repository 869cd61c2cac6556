-- criterion_damage: how well each criterion predicts the ground truth, per run and scope: the Spearman
-- correlation (average ranks for ties) between a criterion and a neuron's single-neuron ablation damage.
-- Every criterion of measure_values (information measures and pair aggregates at every stored bits,
-- class_selectivity and the baselines once, bits NULL; the information measures under each estimator) for runs whose neuron_baselines hold the damage.
-- A criterion that ranks important neurons high correlates positively.
WITH with_damage AS (
    SELECT v.run_id, v.layer, v.neuron, v.measure, v.bits, v.estimator, v.value, d.ablation_damage, d.ablation_damage_mean
    FROM measure_values AS v JOIN neuron_baselines AS d USING (run_id, layer, neuron)
),
scoped AS (
    SELECT 'layer' AS scope, * FROM with_damage
    UNION ALL
    SELECT 'network' AS scope, * REPLACE (CAST(NULL AS INTEGER) AS layer) FROM with_damage
),
ranked AS (
    SELECT scope, run_id, layer, measure, bits, estimator,
        -- average ranks (ties share the mean of their positions)
        rank() OVER w_value + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, estimator, value) - 1) / 2.0 AS r_value,
        rank() OVER w_zero + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, estimator, ablation_damage) - 1) / 2.0 AS r_zero,
        rank() OVER w_mean + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, estimator, ablation_damage_mean) - 1) / 2.0 AS r_mean
    FROM scoped
    WINDOW w_value AS (PARTITION BY scope, run_id, layer, measure, bits, estimator ORDER BY value),
           w_zero AS (PARTITION BY scope, run_id, layer, measure, bits, estimator ORDER BY ablation_damage),
           w_mean AS (PARTITION BY scope, run_id, layer, measure, bits, estimator ORDER BY ablation_damage_mean)
)
SELECT
    run_id,
    scope,                                   -- 'layer' | 'network' (all hidden neurons together)
    layer,                                   -- NULL for scope 'network'
    measure,                                 -- a criterion of `criteria`
    bits,                                    -- quantizer bits of a per-bits criterion; NULL otherwise
    estimator,                               -- the estimator of the criterion's values (measure_values)
    count(*) AS n_neurons,
    corr(r_value, r_zero) AS spearman_damage,       -- with the damage of ablating the neuron alone to 0
    corr(r_value, r_mean) AS spearman_damage_mean   -- with the damage of ablating it alone to its training mean
FROM ranked
GROUP BY ALL
