-- Claim 10 (paper 5.1, CIFAR-10): deeper layers hold many inactive neurons; a few tens of active
-- neurons of layer 3 carry the classification. Networks with at least 3 hidden layers.
-- 10a (ReLU): dead share of the last hidden layer minus that of the first (layer_stats; > 0).
-- 10b: 100 minus the active (non-constant 1-bit code) neurons of layer 3 (> 0: fewer than 100).
-- 10c: 0.02 minus the rise in test error when layer 3's constant neurons are ablated (low-entropy first,
--      1 bit, to zero, at the largest stored k not above their number; > 0: they carry nothing).
WITH deep AS (
    SELECT s.*, r.group_name, r.test_error
    FROM layer_stats AS s JOIN scorecard_runs AS r USING (run_id)
    WHERE r.n_layers >= 3
),
inactive AS (
    SELECT run_id, group_name, arg_max(dead_frac, layer) - arg_min(dead_frac, layer) AS deeper_more_dead
    FROM deep GROUP BY ALL
),
layer3 AS (
    SELECT run_id, group_name, test_error, n_neurons, round(constant_frac * n_neurons)::INTEGER AS n_constant
    FROM deep WHERE layer = 3
),
constant_removed AS (
    SELECT l.run_id, l.group_name, arg_max(c.test_error, c.n_ablated) - any_value(l.test_error) AS rise
    FROM layer3 AS l
    JOIN ablation_curves AS c ON c.run_id = l.run_id AND c.scope = 'layer' AND c.layer = 3 AND c.measure = 'entropy'
        AND c.bits = 1 AND c.ordering = 'low_first' AND c.strategy = 'zero' AND c.n_ablated <= l.n_constant
    GROUP BY ALL
)
SELECT '10a' AS claim, 'ReLU: dead share, last minus first hidden layer' AS statement, group_name, group_name AS page,
    run_id, deeper_more_dead AS statistic, 'layer_stats' AS chart
FROM inactive WHERE deeper_more_dead IS NOT NULL
UNION ALL
SELECT '10b', 'layer 3: 100 - active neurons', group_name, group_name, run_id, 100 - (n_neurons - n_constant), 'layer_stats'
FROM layer3
UNION ALL
SELECT '10c', 'layer 3: 0.02 - error rise when its constant neurons are ablated', group_name, group_name, run_id,
    0.02 - rise, 'layer_ablation'
FROM constant_removed
