-- criterion_damage: how well each criterion predicts the ground truth, per run and scope: the Spearman
-- correlation (average ranks for ties) between a criterion and a neuron's single-neuron ablation damage.
-- Information measures at every stored bits; baselines with bits NULL. A criterion that ranks important
-- neurons high correlates positively.
WITH baseline_values AS (
    UNPIVOT (SELECT run_id, layer, neuron, weight_l1_in, weight_l2_in, weight_l1_out, torch_pruning_magnitude,
                    act_mean, act_var, act_abs_mean, taylor, conductance FROM neuron_baselines)
    ON weight_l1_in, weight_l2_in, weight_l1_out, torch_pruning_magnitude, act_mean, act_var, act_abs_mean, taylor, conductance
    INTO NAME measure VALUE value
),
measure_values AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, entropy, mutual_info, kl_selectivity, labeled_mi,
                    js_subset_separation, class_selectivity FROM neuron_stats)
    ON entropy, mutual_info, kl_selectivity, labeled_mi, js_subset_separation, class_selectivity
    INTO NAME measure VALUE value
),
criteria AS (
    SELECT run_id, layer, neuron, CAST(NULL AS INTEGER) AS bits, measure, value FROM baseline_values
    UNION ALL
    SELECT run_id, layer, neuron, bits, measure, value FROM measure_values
),
with_damage AS (
    SELECT c.*, d.ablation_damage, d.ablation_damage_mean
    FROM criteria AS c JOIN neuron_baselines AS d USING (run_id, layer, neuron)
),
scoped AS (
    SELECT 'layer' AS scope, * FROM with_damage
    UNION ALL
    SELECT 'network' AS scope, * REPLACE (CAST(NULL AS INTEGER) AS layer) FROM with_damage
),
ranked AS (
    SELECT scope, run_id, layer, measure, bits,
        -- average ranks (ties share the mean of their positions)
        rank() OVER w_value + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, value) - 1) / 2.0 AS r_value,
        rank() OVER w_zero + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, ablation_damage) - 1) / 2.0 AS r_zero,
        rank() OVER w_mean + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, ablation_damage_mean) - 1) / 2.0 AS r_mean
    FROM scoped
    WINDOW w_value AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY value),
           w_zero AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY ablation_damage),
           w_mean AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY ablation_damage_mean)
)
SELECT
    run_id,
    scope,                                   -- 'layer' | 'network' (all hidden neurons together)
    layer,                                   -- NULL for scope 'network'
    measure,                                 -- information measure or baseline criterion
    bits,                                    -- quantizer bits of an information measure; NULL otherwise
    count(*) AS n_neurons,
    corr(r_value, r_zero) AS spearman_damage,       -- with the damage of ablating the neuron alone to 0
    corr(r_value, r_mean) AS spearman_damage_mean   -- with the damage of ablating it alone to its training mean
FROM ranked
GROUP BY ALL
