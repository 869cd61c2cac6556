-- pairs_top_neurons: the ${top_n} neurons of each layer of run ${run_id} with the highest mutual_info at
-- ${bits} bits (ties by neuron index), the neurons `neuroninfo pairs --top N` pairs up.
WITH ranked AS (
    SELECT layer, neuron,
        row_number() OVER (PARTITION BY layer ORDER BY mutual_info DESC, neuron) AS position
    FROM neuron_stats
    WHERE run_id = '${run_id}' AND bits = ${bits}
)

SELECT
    layer,   -- hidden layer, 1-based
    neuron   -- neuron index within the layer
FROM ranked
WHERE position <= ${top_n}
ORDER BY layer, neuron
