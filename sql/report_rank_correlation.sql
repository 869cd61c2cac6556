-- report_rank_correlation: does a neuron's measure predict how much the test error rises when it is
-- ablated, within a layer and across the whole network?
-- A neuron's importance is its mean marginal error increase under the random orderings (a Monte-Carlo
-- Shapley estimate): in each random ordering of a scope, the neuron is ablated in the grid interval
-- (k_prev, k]; that interval's error increase, divided by the neurons it adds, is credited to it;
-- importance = the mean over random repeats. Layer scope uses the layer's own random curves, network
-- scope the network-wide ones. Spearman's rho (average ranks for ties) between measure value and
-- importance is computed per run over the neurons of the scope, then averaged over runs.
-- The random orderings are read from the view `ablation_orderings`, as ablation stored them (never
-- regenerated here); reads report_measure_values.
WITH random_curves AS (
    SELECT a.run_id, scope, layer, strategy, repeat, n_ablated, test_error,
        lag(n_ablated) OVER w AS k_prev,
        lag(test_error) OVER w AS error_prev
    FROM ablation_curves AS a JOIN selected_runs USING (run_id)
    WHERE ordering = 'random'
    WINDOW w AS (PARTITION BY a.run_id, scope, layer, strategy, repeat ORDER BY n_ablated)
),
blocks AS (
    SELECT run_id, scope, layer, strategy, repeat, k_prev, n_ablated AS k,
        (test_error - error_prev) / (n_ablated - k_prev) AS increase_per_neuron
    FROM random_curves
    WHERE k_prev IS NOT NULL
),
importance AS (
    SELECT p.run_id, p.scope, p.neuron_layer AS layer, p.neuron, b.strategy,
        round(avg(b.increase_per_neuron), 12) AS importance
    FROM ablation_orderings AS p
    JOIN blocks AS b
        ON b.run_id = p.run_id AND b.scope = p.scope AND b.layer IS NOT DISTINCT FROM p.layer
        AND b.repeat = p.repeat AND p.position >= b.k_prev AND p.position < b.k
    GROUP BY ALL
),
paired AS (
    SELECT v.run_id, i.scope, CASE WHEN i.scope = 'layer' THEN v.layer END AS scope_layer,
        v.measure, v.bits, i.strategy, v.value, i.importance
    FROM report_measure_values AS v
    JOIN importance AS i USING (run_id, layer, neuron)
),
ranked AS (
    SELECT *,
        rank() OVER (PARTITION BY run_id, scope, scope_layer, measure, bits, strategy ORDER BY value)
            + (count(*) OVER (PARTITION BY run_id, scope, scope_layer, measure, bits, strategy, value) - 1) / 2.0
            AS value_rank,
        rank() OVER (PARTITION BY run_id, scope, scope_layer, measure, bits, strategy ORDER BY importance)
            + (count(*) OVER (PARTITION BY run_id, scope, scope_layer, measure, bits, strategy, importance) - 1) / 2.0
            AS importance_rank
    FROM paired
),
per_run AS (
    SELECT run_id, scope, scope_layer, measure, bits, strategy,
        corr(value_rank, importance_rank) AS rho,
        count(*) AS n_neurons
    FROM ranked
    GROUP BY ALL
)
SELECT
    scope,                                           -- 'layer' | 'network'
    scope_layer AS layer,                            -- hidden layer 1..L; NULL for network scope
    CASE WHEN scope = 'network' THEN 'network' ELSE 'layer ' || scope_layer END AS scope_label,  -- for display
    measure,                                         -- the measure
    bits,                                            -- quantizer bits; NULL for class_selectivity
    strategy,                                        -- 'zero' | 'mean': the ablation behind the importance
    avg(rho) FILTER (WHERE isfinite(rho)) AS spearman,       -- Spearman's rho, mean over runs (NULL if undefined)
    min(rho) FILTER (WHERE isfinite(rho)) AS spearman_min,   -- lowest rho over runs
    max(rho) FILTER (WHERE isfinite(rho)) AS spearman_max,   -- highest rho over runs
    count(*) FILTER (WHERE isfinite(rho)) AS n_runs,         -- runs with a defined rho (some variance in both)
    avg(n_neurons) AS n_neurons                      -- neurons per run in the scope
FROM per_run
GROUP BY ALL
ORDER BY scope DESC, layer, measure, bits, strategy
