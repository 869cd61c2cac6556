-- rankings: the ablation orderings of one run, read back from neuron_stats.
-- One row per (measure, bits, layer, neuron) with its position in each ordering; ties in a measure
-- are broken by neuron index (layer, then neuron, for the whole network) so every curve is reproducible;
-- values are compared rounded to 1e-12, so a last-bit difference of a parallel sum never reorders them.
-- Parameter: ${run_id}. class_selectivity does not depend on the quantizer: it is ranked once, bits NULL.
-- The per-neuron pair aggregates of neuron_redundancy are ranked for a bits value only when they cover
-- every neuron of the network (pairs computed without --top).
WITH stats AS (
    SELECT * FROM neuron_stats WHERE run_id = '${run_id}'
),
measure_values AS (
    UNPIVOT stats
    ON ${quantized}
    INTO NAME measure VALUE value
),
quantized AS (
    SELECT measure, bits, layer, neuron, value FROM measure_values
),
unquantized AS (
    SELECT 'class_selectivity' AS measure, CAST(NULL AS INTEGER) AS bits, layer, neuron, class_selectivity AS value
    FROM stats
    WHERE bits = (SELECT min(bits) FROM stats)
),
redundancy AS (
    SELECT * FROM neuron_redundancy WHERE run_id = '${run_id}'
),
complete_bits AS (
    SELECT bits FROM redundancy
    GROUP BY bits
    HAVING count(*) = (SELECT count(DISTINCT (layer, neuron)) FROM stats)
),
pair_values AS (
    UNPIVOT (SELECT layer, neuron, bits, ${pair_aggregates}
             FROM redundancy WHERE bits IN (SELECT bits FROM complete_bits))
    ON ${pair_aggregates}
    INTO NAME measure VALUE value
),
all_values AS (
    SELECT * FROM quantized
    UNION ALL SELECT * FROM unquantized
    UNION ALL SELECT measure, bits, layer, neuron, value FROM pair_values
)
SELECT
    measure,
    bits,
    layer,
    neuron,
    value,
    -- position when ablating the least informative first, within the layer / the whole network
    row_number() OVER (PARTITION BY measure, bits, layer ORDER BY round(value, 12) ASC, neuron) - 1 AS layer_low_first,
    row_number() OVER (PARTITION BY measure, bits, layer ORDER BY round(value, 12) DESC, neuron) - 1 AS layer_high_first,
    row_number() OVER (PARTITION BY measure, bits ORDER BY round(value, 12) ASC, layer, neuron) - 1 AS network_low_first,
    row_number() OVER (PARTITION BY measure, bits ORDER BY round(value, 12) DESC, layer, neuron) - 1 AS network_high_first
FROM all_values
ORDER BY measure, bits, layer, neuron
