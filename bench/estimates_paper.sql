-- estimates_paper: the paper grid re-read with the bias-corrected estimators (docs/paper-results.md).
-- Per activation, regularizer, layer and bits, over the grid's seeds:
--   the share of units whose I(T;Y) survives BH at FDR 5 % over the layer (view layer_significance),
--   the mean plug-in bias the corrections remove (plug-in minus corrected mean I(T;Y)),
--   and the Spearman correlation between the plug-in ordering and each corrected ordering of the layer's
--   units by I(T;Y) (the ranking ablation follows; 1 = the same order).
WITH ranked AS (
    SELECT run_id, layer, bits, neuron, estimator,
        rank() OVER (PARTITION BY run_id, layer, bits, estimator ORDER BY round(value, 12), neuron) AS position
    FROM measure_estimates
    WHERE measure = 'mutual_info'
),

paired AS (
    SELECT p.run_id, p.layer, p.bits, c.estimator, corr(p.position, c.position) AS spearman
    FROM ranked AS p
    JOIN ranked AS c USING (run_id, layer, bits, neuron)
    WHERE p.estimator = 'plugin' AND c.estimator <> 'plugin'
    GROUP BY ALL
),

per_run AS (
    SELECT s.run_id, s.layer, s.bits, s.significant_frac, s.small_sample_frac,
        s.mean_mi_plugin, s.mean_mi_plugin - s.mean_mi_miller_madow AS bias_miller_madow,
        s.mean_mi_plugin - s.mean_mi_shuffle AS bias_shuffle,
        any_value(p.spearman) FILTER (WHERE p.estimator = 'miller_madow') AS spearman_miller_madow,
        any_value(p.spearman) FILTER (WHERE p.estimator = 'panzeri_treves') AS spearman_panzeri_treves,
        any_value(p.spearman) FILTER (WHERE p.estimator = 'shuffle') AS spearman_shuffle
    FROM layer_significance AS s
    JOIN paired AS p USING (run_id, layer, bits)
    GROUP BY ALL
)

SELECT
    r.activation, r.regularizer, s.layer, s.bits,
    count(*) AS n_runs,
    avg(s.significant_frac) AS significant_frac,
    avg(s.small_sample_frac) AS small_sample_frac,
    avg(s.mean_mi_plugin) AS mean_mi_plugin,
    avg(s.bias_miller_madow) AS bias_miller_madow,
    avg(s.bias_shuffle) AS bias_shuffle,
    min(s.spearman_miller_madow) AS min_spearman_miller_madow,
    min(s.spearman_panzeri_treves) AS min_spearman_panzeri_treves,
    min(s.spearman_shuffle) AS min_spearman_shuffle
FROM per_run AS s
JOIN runs AS r USING (run_id)
GROUP BY ALL
ORDER BY ALL
