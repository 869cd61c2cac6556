-- report_auc: the area under each ablation curve of the selected runs (view ablation_auc: normalised
-- to [0, 1] over frac_ablated, averaged over random repeats within a run); then, over the runs (seeds), the mean area of each ordering and the effect sizes with a 95 %
-- t-interval (n - 1 degrees of freedom): how much lower the low_first area is than random's, and how
-- much higher high_first's is. Lower area = lower test error while ablating. One row per scope (each
-- layer, the network), measure, bits and strategy.
WITH per_run AS (
    SELECT a.run_id, scope, layer, measure, bits, ordering, strategy, auc
    FROM ablation_auc AS a JOIN selected_runs USING (run_id)
    WHERE estimator = 'plugin'  -- the report ranks by the plug-in values (corrected rankings: the scorecard's variable)
),
random_per_run AS (
    SELECT run_id, scope, layer, strategy, auc AS auc_random
    FROM per_run
    WHERE ordering = 'random'
),
ranked_per_run AS (
    SELECT run_id, scope, layer, measure, bits, strategy,
        max(auc) FILTER (WHERE ordering = 'low_first') AS auc_low_first,
        max(auc) FILTER (WHERE ordering = 'high_first') AS auc_high_first
    FROM per_run
    WHERE ordering <> 'random'
    GROUP BY ALL
),
effects_per_run AS (
    SELECT r.*, q.auc_random,
        q.auc_random - r.auc_low_first AS low_effect,   -- > 0: low_first hurts less than random
        r.auc_high_first - q.auc_random AS high_effect  -- > 0: high_first hurts more than random
    FROM ranked_per_run AS r
    LEFT JOIN random_per_run AS q
        ON q.run_id = r.run_id AND q.scope = r.scope AND q.layer IS NOT DISTINCT FROM r.layer AND q.strategy = r.strategy
),
over_runs AS (
    SELECT scope, layer, measure, bits, strategy,
        avg(auc_low_first) AS auc_low_first, avg(auc_random) AS auc_random, avg(auc_high_first) AS auc_high_first,
        avg(low_effect) AS low_effect, stddev_samp(low_effect) AS low_sd,
        avg(high_effect) AS high_effect, stddev_samp(high_effect) AS high_sd,
        count(*) AS n_runs
    FROM effects_per_run
    GROUP BY ALL
)
SELECT
    o.scope,            -- 'layer' | 'network'
    o.layer,            -- hidden layer 1..L; NULL for network scope
    CASE WHEN o.scope = 'network' THEN 'network' ELSE 'layer ' || o.layer END AS scope_label,  -- for display
    o.measure,          -- the ranking measure
    o.bits,             -- quantizer bits; NULL for class_selectivity
    o.strategy,         -- 'zero' | 'mean'
    o.auc_low_first,    -- normalised area under the low_first curve (mean test error over the curve, fraction), mean over runs
    o.auc_random,       -- the same for random orderings (mean over repeats, then runs)
    o.auc_high_first,   -- the same for the high_first curve
    o.auc_low_first < o.auc_random AS low_beats_random,    -- on average, ablating low-ranked neurons first hurts less than random
    o.auc_random < o.auc_high_first AS random_beats_high,  -- on average, ablating high-ranked neurons first hurts more than random
    o.low_effect,       -- mean over runs of AUC(random) - AUC(low_first)
    o.low_effect_half,  -- half-width of its 95 % t-interval; NULL with one run (no interval)
    o.high_effect,      -- mean over runs of AUC(high_first) - AUC(random)
    o.high_effect_half, -- half-width of its 95 % t-interval; NULL with one run
    o.n_runs            -- runs (seeds) averaged
FROM (
    SELECT v.*,
        t_quantile_95(v.n_runs - 1) * v.low_sd / sqrt(v.n_runs) AS low_effect_half,
        t_quantile_95(v.n_runs - 1) * v.high_sd / sqrt(v.n_runs) AS high_effect_half
    FROM over_runs AS v
) AS o
ORDER BY o.scope DESC, o.layer, o.measure, o.bits, o.strategy
