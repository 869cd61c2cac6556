-- scorecard_runs: the trained runs with ablation curves, one row per run; a group is a configuration
-- differing only by seed. n_layers counts the captured layers (an mlp's hidden layers).
WITH captured AS (
    SELECT run_id, count(*) AS n_layers FROM layers GROUP BY run_id
)
SELECT r.run_id, r.group_name, r.dataset, r.activation, r.regularizer, r.seed, r.hidden_sizes,
    coalesce(c.n_layers, len(r.hidden_sizes)) AS n_layers,
    r.test_error, r.n_test
FROM runs AS r
LEFT JOIN captured AS c USING (run_id)
WHERE r.origin = 'trained' AND r.run_id IN (SELECT DISTINCT run_id FROM ablation_curves)
