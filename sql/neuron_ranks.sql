-- neuron_ranks (temporary, pending the single ranking model): positions of each neuron in the orderings.
CREATE OR REPLACE VIEW neuron_ranks AS
WITH measure_values AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, ${quantized} FROM neuron_stats)
    ON ${quantized}
    INTO NAME measure VALUE value
)
SELECT run_id, measure, bits, layer, neuron, value,
    row_number() OVER (PARTITION BY run_id, measure, bits ORDER BY round(value, 12) ASC, layer, neuron) - 1 AS network_low_first
FROM measure_values;
