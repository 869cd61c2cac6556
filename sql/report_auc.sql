-- report_auc: area under each ablation curve, normalised to [0, 1] over frac_ablated (trapezoid rule
-- over the stored k grid, divided by the frac range), averaged over random repeats within a run, then
-- over the selected runs. Lower area = lower test error while ablating. A measure's low_first
-- ordering "beats random" when its mean area is below random's; random "beats high_first" when
-- random's mean area is below high_first's. One row per scope (each layer, the network), measure,
-- bits and strategy.
WITH curves AS (
    SELECT a.* FROM ablation_curves AS a JOIN selected_runs USING (run_id)
),
segments AS (
    SELECT *,
        (frac_ablated - lag(frac_ablated) OVER w) * (test_error + lag(test_error) OVER w) / 2 AS area
    FROM curves
    WINDOW w AS (PARTITION BY run_id, scope, layer, measure, bits, ordering, strategy, repeat ORDER BY n_ablated)
),
per_curve AS (
    SELECT run_id, scope, layer, measure, bits, ordering, strategy, repeat,
        sum(area) / nullif(max(frac_ablated) - min(frac_ablated), 0) AS auc
    FROM segments
    GROUP BY ALL
),
per_run AS (
    SELECT run_id, scope, layer, measure, bits, ordering, strategy, avg(auc) AS auc
    FROM per_curve
    GROUP BY ALL
),
per_ordering AS (
    SELECT scope, layer, measure, bits, ordering, strategy, avg(auc) AS auc, count(*) AS n_runs
    FROM per_run
    GROUP BY ALL
),
ranked AS (
    SELECT scope, layer, measure, bits, strategy,
        max(auc) FILTER (WHERE ordering = 'low_first') AS auc_low_first,
        max(auc) FILTER (WHERE ordering = 'high_first') AS auc_high_first,
        max(n_runs) AS n_runs
    FROM per_ordering
    WHERE ordering <> 'random'
    GROUP BY ALL
),
random AS (
    SELECT scope, layer, strategy, auc AS auc_random
    FROM per_ordering
    WHERE ordering = 'random'
)
SELECT
    r.scope,            -- 'layer' | 'network'
    r.layer,            -- hidden layer 1..L; NULL for network scope
    CASE WHEN r.scope = 'network' THEN 'network' ELSE 'layer ' || r.layer END AS scope_label,  -- for display
    r.measure,          -- the ranking measure
    r.bits,             -- quantizer bits; NULL for class_selectivity
    r.strategy,         -- 'zero' | 'mean'
    r.auc_low_first,    -- normalised area under the low_first curve (mean test error over the curve, fraction)
    q.auc_random,       -- the same for random orderings (mean over repeats, then runs)
    r.auc_high_first,   -- the same for the high_first curve
    r.auc_low_first < q.auc_random AS low_beats_random,    -- ablating low-ranked neurons first hurts less than random
    q.auc_random < r.auc_high_first AS random_beats_high,  -- ablating high-ranked neurons first hurts more than random
    r.n_runs            -- runs averaged
FROM ranked AS r
LEFT JOIN random AS q ON q.scope = r.scope AND q.layer IS NOT DISTINCT FROM r.layer AND q.strategy = r.strategy
ORDER BY r.scope DESC, r.layer, r.measure, r.bits, r.strategy
