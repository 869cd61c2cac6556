-- report_significance: per hidden layer and bits of the selected runs, the share of units whose I(T;Y) a
-- test vouches for (view layer_significance: Benjamini-Hochberg at FDR 5 % over the layer) and the layer's
-- mean I(T;Y) under each estimator, averaged over the runs (min and max over runs beside). Empty for runs
-- without measure_estimates (neuroninfo estimate RUN_ID makes them).
WITH per_run AS (
    SELECT s.*
    FROM layer_significance AS s
    JOIN selected_runs USING (run_id)
),

estimators AS (
    UNPIVOT per_run
    ON mean_mi_plugin AS 'plugin', mean_mi_miller_madow AS 'miller_madow',
       mean_mi_panzeri_treves AS 'panzeri_treves', mean_mi_shuffle AS 'shuffle'
    INTO NAME estimator VALUE mean_mi
)

SELECT
    layer,                                              -- hidden layer 1..L
    bits,                                               -- quantizer bits
    estimator,                                          -- plugin | miller_madow | panzeri_treves | shuffle
    avg(mean_mi ORDER BY run_id) AS mean_mi,            -- the layer's mean I(T;Y), bits (mean over runs)
    min(mean_mi) AS mean_mi_low,                        -- lowest over runs
    max(mean_mi) AS mean_mi_high,                       -- highest over runs
    avg(significant_frac ORDER BY run_id) AS significant_frac,  -- share of significant units (mean over runs)
    avg(small_sample_frac ORDER BY run_id) AS small_sample_frac,  -- share flagged small-sample
    count(*) AS n_runs                                  -- runs averaged
FROM estimators
GROUP BY layer, bits, estimator
ORDER BY layer, bits, estimator
