-- rankings: the orderings of one run by the information measures, as ablation reads them (the rule is neuron_ranks).
-- One row per (measure, bits, layer, neuron) with its position in each ordering. Parameter: ${run_id}.
-- The pair aggregates of neuron_redundancy are ranked for a bits value only when they cover every neuron
-- of the network (pairs computed without --top).
WITH ranks AS (
    SELECT * FROM neuron_ranks
    WHERE run_id = '${run_id}' AND source IN ('neuron_stats', 'neuron_redundancy')
),
complete_bits AS (
    SELECT bits FROM neuron_redundancy
    WHERE run_id = '${run_id}'
    GROUP BY bits
    HAVING count(*) = (SELECT count(DISTINCT (layer, neuron)) FROM neuron_stats WHERE run_id = '${run_id}')
)
SELECT measure, bits, layer, neuron, value, layer_low_first, layer_high_first, network_low_first, network_high_first
FROM ranks
WHERE source = 'neuron_stats' OR bits IN (SELECT bits FROM complete_bits)
ORDER BY measure, bits, layer, neuron
