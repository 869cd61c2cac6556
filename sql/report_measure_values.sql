-- report_measure_values: every measure of every neuron of the selected runs, long format.
-- Source `selected_runs` (run_id) is registered by store/report_data.py. Created as a temp view that
-- the other report_* models read. class_selectivity does not depend on the quantizer: it is taken
-- once (from the run's smallest bits) with bits NULL, as in rankings.sql. The per-neuron pair aggregates
-- come from neuron_redundancy (the neurons it has).
CREATE OR REPLACE TEMP VIEW report_measure_values AS
WITH stats AS (
    SELECT s.* FROM neuron_stats AS s JOIN selected_runs USING (run_id)
),
quantized AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, ${quantized}
             FROM stats)
    ON ${quantized}
    INTO NAME measure VALUE value
),
pair_aggregates AS (
    UNPIVOT (SELECT r.run_id, layer, neuron, bits, ${pair_aggregates}
             FROM neuron_redundancy AS r JOIN selected_runs USING (run_id))
    ON ${pair_aggregates}
    INTO NAME measure VALUE value
),
unquantized AS (
    SELECT run_id, layer, neuron, CAST(NULL AS INTEGER) AS bits, 'class_selectivity' AS measure, class_selectivity AS value
    FROM stats
    QUALIFY bits = min(bits) OVER (PARTITION BY run_id)
)
SELECT
    run_id,
    layer,    -- hidden layer 1..L
    neuron,   -- 0-based index within the layer
    measure,  -- entropy | mutual_info | kl_selectivity | labeled_mi | js_subset_separation | class_selectivity
              -- | unique_min | max_red_min | mean_synergy_min | max_synergy_min
    bits,     -- quantizer bits; NULL for class_selectivity
    value     -- the measure (bits, log base 2; class_selectivity: an index in [-1, 1])
FROM (SELECT run_id, layer, neuron, measure, bits, value FROM quantized
      UNION ALL
      SELECT run_id, layer, neuron, measure, bits, value FROM unquantized
      UNION ALL
      SELECT run_id, layer, neuron, measure, bits, value FROM pair_aggregates)
WHERE isfinite(value);
