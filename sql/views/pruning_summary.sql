-- pruning_summary: pruning_curves of trained runs averaged over the seeds of each group.
WITH trained AS (
    SELECT p.*, r.group_name, r.test_error AS unpruned_error
    FROM pruning_curves AS p JOIN runs AS r USING (run_id)
    WHERE r.origin = 'trained'
)
SELECT
    group_name,            -- runs that differ only by seed
    measure, bits, scope, strategy, finetune_epochs, keep,
    count(*) AS n_runs,    -- seeds averaged
    avg(kept_fraction) AS kept_fraction,
    avg(n_params) AS n_params,
    avg(test_error) AS error_mean,  -- test error of the pruned networks, mean over seeds
    min(test_error) AS error_min,
    max(test_error) AS error_max,
    avg(unpruned_error) AS unpruned_error  -- the same runs unpruned
FROM trained
GROUP BY ALL
