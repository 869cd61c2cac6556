-- report_measure_values: the information measures of every neuron of the selected runs, long format (the
-- report's histograms, rank correlations and layer composition read it). Source `selected_runs` (run_id) is
-- registered by store/report_data.py. Which value a measure takes (class_selectivity once, from the smallest
-- bits) is measure_values' rule; the values are the plug-in ones (the significance section reads the corrected).
SELECT
    run_id,
    layer,    -- hidden layer 1..L
    neuron,   -- 0-based index within the layer
    measure,  -- entropy | mutual_info | kl_selectivity | labeled_mi | js_subset_separation | class_selectivity
              -- | unique_min | max_red_min | mean_synergy_min | max_synergy_min
    bits,     -- quantizer bits; NULL for class_selectivity
    value     -- the measure (bits, log base 2; class_selectivity: an index in [-1, 1])
FROM measure_values JOIN selected_runs USING (run_id)
WHERE source IN ('neuron_stats', 'neuron_redundancy') AND isfinite(value)  -- the plug-in values (corrected ones: measure_estimates)
