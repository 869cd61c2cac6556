-- scorecard_runs: the trained runs with ablation curves, one row per run; a group is a configuration
-- differing only by seed. n_layers counts the measured layers (an mlp's hidden layers; any network's unit layers).
WITH measured AS (
    SELECT run_id, count(DISTINCT layer) AS n_layers FROM neuron_stats GROUP BY run_id
)
SELECT r.run_id, r.group_name, r.dataset, r.activation, r.regularizer, r.seed, r.hidden_sizes,
    coalesce(m.n_layers, len(r.hidden_sizes)) AS n_layers,
    r.test_error, r.n_test
FROM runs AS r
LEFT JOIN measured AS m USING (run_id)
WHERE r.origin = 'trained' AND r.run_id IN (SELECT DISTINCT run_id FROM ablation_curves)
