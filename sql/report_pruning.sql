-- report_pruning: test error of the selected runs pruned by each criterion (pruning_curves), against the
-- parameter count, averaged over seeds with a min-max band. Empty when no run has a prune-sweep.
WITH curves AS (
    SELECT p.* FROM pruning_curves AS p JOIN selected_runs USING (run_id)
),
aggregated AS (
    SELECT measure, bits, scope, strategy, finetune_epochs, keep,
        avg(kept_fraction) AS kept_fraction,
        avg(n_params) AS n_params,
        avg(test_error) AS error_mean,
        min(test_error) AS error_min,
        max(test_error) AS error_max,
        count(*) AS n_runs
    FROM curves
    GROUP BY ALL
)
SELECT
    CASE WHEN bits IS NULL THEN measure ELSE measure || ' · ' || bits || ' bit' || CASE WHEN bits > 1 THEN 's' ELSE '' END END
        AS criterion,      -- label: the measure, with its bits for an information measure
    measure,
    coalesce(c.family, 'baseline') AS kind,  -- the criterion's family (`criteria`): 'information' | 'baseline' | 'random'
    bits, scope, strategy,
    finetune_epochs,       -- epochs of fine-tuning after pruning
    keep,                  -- requested kept fraction
    kept_fraction,         -- hidden neurons kept / the run's (mean over seeds)
    n_params,              -- parameters of the pruned network (mean over seeds)
    error_mean,            -- test error, mean over seeds
    error_min,             -- lowest over seeds
    error_max,             -- highest over seeds
    n_runs                 -- seeds averaged
FROM aggregated AS a LEFT JOIN criteria AS c USING (measure)
ORDER BY finetune_epochs, kind, criterion, keep
