-- report_curves: cumulative ablation curves of the selected runs, downsampled and aggregated over seeds
-- (and random repeats): mean with a min-max and sd band. Network curves keep at most ${steps}+1 points,
-- layer curves at most ${layer_steps}+1 (fewer for deep networks, so one chart of every layer stays
-- small): per curve and bucket round(frac_ablated * steps), the evaluated point nearest the bucket
-- centre (k = 0 and k = n are always kept). Random curves are repeated under every measure name
-- (bits NULL) so that each measure's panel can draw its random baseline.
WITH curves AS (
    SELECT a.*, CASE WHEN scope = 'layer' THEN ${layer_steps} ELSE ${steps} END AS steps
    FROM ablation_curves AS a JOIN selected_runs USING (run_id)
    WHERE estimator = 'plugin'  -- the orderings of the plug-in values
),
bucketed AS (
    SELECT *, round(frac_ablated * steps) AS bucket FROM curves
),
downsampled AS (
    SELECT run_id, scope, layer, measure, bits, ordering, strategy, repeat, bucket, frac_ablated, test_error
    FROM bucketed
    QUALIFY row_number() OVER (
        PARTITION BY run_id, scope, layer, measure, bits, ordering, strategy, repeat, bucket
        ORDER BY abs(frac_ablated - bucket / steps), n_ablated
    ) = 1
),
aggregated AS (
    SELECT scope, layer, measure, bits, ordering, strategy, bucket,
        avg(frac_ablated) AS frac_ablated,
        avg(test_error) AS error_mean,
        min(test_error) AS error_min,
        max(test_error) AS error_max,
        coalesce(stddev_samp(test_error), 0.0) AS error_sd,
        count(*) AS n_curves
    FROM downsampled
    GROUP BY scope, layer, measure, bits, ordering, strategy, bucket
),
measures AS (
    SELECT DISTINCT measure FROM aggregated WHERE measure <> 'random'
),
random_per_measure AS (
    SELECT a.* REPLACE (m.measure AS measure)
    FROM aggregated AS a CROSS JOIN measures AS m
    WHERE a.measure = 'random'
)
SELECT
    scope,         -- 'layer' | 'network'
    layer,         -- hidden layer 1..L; NULL for network scope
    measure,       -- the ranking measure (random baselines are listed under each measure)
    bits,          -- quantizer bits of the measure; NULL for random and class_selectivity
    ordering,      -- 'low_first' | 'high_first' | 'random'
    strategy,      -- 'zero' | 'mean'
    frac_ablated,  -- fraction of the scope's neurons ablated (0..1)
    error_mean,    -- test error (fraction), mean over seeds (and random repeats)
    error_min,     -- lowest test error over seeds (and repeats)
    error_max,     -- highest test error over seeds (and repeats)
    error_sd,      -- sample standard deviation over seeds (and repeats); 0 for a single curve
    n_curves       -- curves averaged (seeds x repeats)
FROM (SELECT * FROM aggregated WHERE measure <> 'random' UNION ALL SELECT * FROM random_per_measure)
ORDER BY scope, layer, measure, bits, ordering, strategy, frac_ablated
