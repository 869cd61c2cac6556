-- scorecard_runs: the trained runs with ablation curves, one row per run; a group is a configuration
-- differing only by seed.
SELECT run_id, group_name, dataset, activation, regularizer, seed, hidden_sizes, len(hidden_sizes) AS n_layers,
    test_error, n_test
FROM runs
WHERE origin = 'trained' AND run_id IN (SELECT DISTINCT run_id FROM ablation_curves)
