-- ablation_auc: one row per (run, scope, layer, measure, bits, estimator, ordering, strategy): the normalised area
-- under the ablation curve, i.e. the mean test error while ablating from k = 0 to the last stored k
-- (trapezoid rule over frac_ablated, divided by the frac range), averaged over the random repeats.
-- Lower area = ablating this ordering hurts less. The scorecard's claims and the report read it.
-- (up_to is 1.0 here; the scorecard's early-curve statistics read this SQL with a smaller fraction.)
WITH segments AS (
    SELECT *,
        (frac_ablated - lag(frac_ablated) OVER w) * (test_error + lag(test_error) OVER w) / 2 AS area
    FROM ablation_curves
    WHERE frac_ablated <= ${up_to}
    WINDOW w AS (PARTITION BY run_id, scope, layer, measure, bits, estimator, ordering, strategy, repeat ORDER BY n_ablated)
),
per_curve AS (
    SELECT run_id, scope, layer, measure, bits, estimator, ordering, strategy, repeat,
        sum(area ORDER BY n_ablated) / nullif(max(frac_ablated) - min(frac_ablated), 0) AS auc  -- summed in order: the same bits every query
    FROM segments
    GROUP BY ALL
)
SELECT
    run_id,
    scope,      -- 'layer' | 'network'
    layer,      -- hidden layer for scope layer; NULL for network
    measure,    -- ranking measure; 'random' for random orderings
    bits,       -- quantizer bits; NULL for random and class_selectivity
    estimator,  -- the estimator of the values ranked (plugin for random and the criteria without others)
    ordering,   -- 'low_first' | 'high_first' | 'random'
    strategy,   -- 'zero' | 'mean'
    avg(auc ORDER BY repeat) AS auc,  -- mean test error over the curve (fraction), mean over random repeats
    count(*) AS n_curves    -- curves averaged (the random repeats; 1 otherwise)
FROM per_curve
GROUP BY ALL
