-- scorecard_runs: the trained runs with ablation curves, one row per run; a group is a configuration
-- differing only by seed. n_layers counts the measured layers (an mlp's hidden layers; any network's unit layers).
-- A checkpoint kept on the way through a training (trajectory_points, not its last epoch) is no configuration
-- of its own and stays out, unless it is also the last epoch of another training.
WITH measured AS (
    SELECT run_id, count(DISTINCT layer) AS n_layers FROM neuron_stats GROUP BY run_id
)
SELECT r.run_id, r.group_name, r.dataset, r.activation, r.regularizer, r.seed, r.hidden_sizes,
    coalesce(m.n_layers, len(r.hidden_sizes)) AS n_layers,
    r.test_error, r.n_test
FROM runs AS r
LEFT JOIN measured AS m USING (run_id)
WHERE r.origin = 'trained' AND r.run_id IN (SELECT DISTINCT run_id FROM ablation_curves)
  AND r.run_id NOT IN (  -- runs that are only ever a checkpoint on the way (read from the table: cheap to bind)
      SELECT run_id FROM (SELECT run_id, epoch < max(epoch) OVER (PARTITION BY training_id) AS on_the_way FROM trajectory_points)
      GROUP BY run_id HAVING bool_and(on_the_way))
