-- report_layer_stats: per hidden layer of the selected runs, the share of neurons that do nothing on the
-- validation split (view layer_stats), averaged over the runs.
SELECT
    s.layer,                                   -- hidden layer 1..L
    avg(s.n_neurons) AS n_neurons,             -- neurons of the layer
    avg(s.constant_frac) AS constant_frac,     -- share whose 1-bit code is constant on validation (mean over runs)
    avg(s.dead_frac) AS dead_frac,             -- ReLU: share never above 0 on validation; NULL for sigmoid
    count(*) AS n_runs,                        -- runs averaged
    any_value(s.module_path) AS module_path    -- the module the units are read from
FROM layer_stats AS s
JOIN selected_runs USING (run_id)
GROUP BY s.layer
ORDER BY s.layer
