-- trajectory_layers: each layer of each checkpoint of a training, one row per (training, epoch, layer, bits):
-- the checkpoint's test error, the median and interquartile range of each information measure over the
-- layer's units, the mean per-unit H(T) and I(T;Y) (plug-in and Miller-Madow: the information plane), and the
-- layer-scope ablation areas of the MI orderings where the checkpoint was ablated. Per-unit means, not the
-- layer's joint code: the joint code of a wide layer is nearly unique per sample, so its H(T) saturates at
-- log2 N and its I(T;Y) at H(Y) whatever the network does.
WITH points AS (
    SELECT training_id, epoch, run_id, test_error FROM trajectories
),

spread AS (  -- the plug-in measures over the layer's units
    SELECT s.run_id, s.layer, s.bits,
        count(*) AS n_units,
        avg(s.entropy) AS mean_entropy,
        avg(s.mutual_info) AS mean_mutual_info,
        median(s.entropy) AS median_entropy,
        quantile_cont(s.entropy, 0.75) - quantile_cont(s.entropy, 0.25) AS iqr_entropy,
        median(s.mutual_info) AS median_mutual_info,
        quantile_cont(s.mutual_info, 0.75) - quantile_cont(s.mutual_info, 0.25) AS iqr_mutual_info,
        median(s.kl_selectivity) AS median_kl_selectivity,
        quantile_cont(s.kl_selectivity, 0.75) - quantile_cont(s.kl_selectivity, 0.25) AS iqr_kl_selectivity,
        median(s.labeled_mi) AS median_labeled_mi,
        quantile_cont(s.labeled_mi, 0.75) - quantile_cont(s.labeled_mi, 0.25) AS iqr_labeled_mi,
        median(s.js_subset_separation) AS median_js_subset_separation,
        quantile_cont(s.js_subset_separation, 0.75) - quantile_cont(s.js_subset_separation, 0.25) AS iqr_js_subset_separation
    FROM neuron_stats AS s
    WHERE s.run_id IN (SELECT run_id FROM points)
    GROUP BY s.run_id, s.layer, s.bits
),

corrected AS (  -- the Miller-Madow means (measure_estimates), where the checkpoint was estimated
    SELECT run_id, layer, bits,
        avg(value) FILTER (WHERE measure = 'entropy') AS mean_entropy_miller_madow,
        avg(value) FILTER (WHERE measure = 'mutual_info') AS mean_mutual_info_miller_madow
    FROM measure_estimates
    WHERE estimator = 'miller_madow' AND measure IN ('entropy', 'mutual_info') AND run_id IN (SELECT run_id FROM points)
    GROUP BY run_id, layer, bits
),

ranked_areas AS (  -- layer scope, ablation to zero, ranked by the plug-in MI at the same bits
    SELECT run_id, layer, bits,
        max(auc) FILTER (WHERE ordering = 'low_first') AS auc_low_first,
        max(auc) FILTER (WHERE ordering = 'high_first') AS auc_high_first
    FROM ablation_auc
    WHERE scope = 'layer' AND strategy = 'zero' AND measure = 'mutual_info' AND estimator = 'plugin'
      AND run_id IN (SELECT run_id FROM points)
    GROUP BY run_id, layer, bits
),

random_areas AS (
    SELECT run_id, layer, auc AS auc_random
    FROM ablation_auc
    WHERE scope = 'layer' AND strategy = 'zero' AND ordering = 'random' AND run_id IN (SELECT run_id FROM points)
)

SELECT
    p.training_id,          -- the training (trajectories)
    p.epoch,                -- epochs trained
    p.run_id,               -- the checkpoint's run
    s.layer,                -- hidden layer
    s.bits,                 -- quantizer bits of the measures
    p.test_error,           -- the checkpoint's test error
    s.n_units,              -- units of the layer
    s.mean_entropy,         -- mean over units of H(T), plug-in (bits): the information plane's x
    s.mean_mutual_info,     -- mean over units of I(T;Y), plug-in (bits): its y
    c.mean_entropy_miller_madow,      -- the same, Miller-Madow (NULL: not estimated)
    c.mean_mutual_info_miller_madow,
    s.median_entropy, s.iqr_entropy,                            -- median and interquartile range over the units
    s.median_mutual_info, s.iqr_mutual_info,
    s.median_kl_selectivity, s.iqr_kl_selectivity,
    s.median_labeled_mi, s.iqr_labeled_mi,
    s.median_js_subset_separation, s.iqr_js_subset_separation,
    a.auc_low_first,        -- layer ablation to zero, lowest MI first: mean test error over the curve (NULL: not ablated)
    a.auc_high_first,       -- highest MI first
    q.auc_random            -- random orderings (mean over repeats)
FROM points AS p
JOIN spread AS s USING (run_id)
LEFT JOIN corrected AS c USING (run_id, layer, bits)
LEFT JOIN ranked_areas AS a USING (run_id, layer, bits)
LEFT JOIN random_areas AS q USING (run_id, layer)
