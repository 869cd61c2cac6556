-- report_pair_heatmap: red_min among the ${top} most informative neurons of each layer, for one run (the
-- selected run with the smallest seed: neuron indices of different seeds do not correspond) at the smallest
-- bits its neuron_redundancy has. One row per ordered pair (a, b) of those neurons, a = b included
-- (red_min(i, i) = I(Ti;Y)). Empty when no selected run has pairs. The chart orders the neurons.
WITH chosen_run AS (
    SELECT r.run_id
    FROM runs AS r
    JOIN selected_runs USING (run_id)
    WHERE r.run_id IN (SELECT run_id FROM neuron_redundancy)
    ORDER BY r.seed, r.run_id
    LIMIT 1
),
chosen_bits AS (
    SELECT min(bits) AS bits FROM neuron_redundancy WHERE run_id IN (SELECT run_id FROM chosen_run)
),
top_neurons AS (
    SELECT run_id, layer, neuron, bits, mutual_info
    FROM neuron_redundancy
    WHERE run_id IN (SELECT run_id FROM chosen_run) AND bits = (SELECT bits FROM chosen_bits)
    QUALIFY row_number() OVER (PARTITION BY layer ORDER BY mutual_info DESC, neuron) <= ${top}
),
pairs AS (
    SELECT p.run_id, p.layer_i AS layer, p.bits, p.neuron_i, p.neuron_j, p.red_min
    FROM neuron_pairs AS p
    JOIN top_neurons AS a ON a.run_id = p.run_id AND a.bits = p.bits AND a.layer = p.layer_i AND a.neuron = p.neuron_i
    JOIN top_neurons AS b ON b.run_id = p.run_id AND b.bits = p.bits AND b.layer = p.layer_j AND b.neuron = p.neuron_j
    WHERE p.layer_i = p.layer_j
),
both_orders AS (
    SELECT run_id, layer, bits, neuron_i AS neuron_a, neuron_j AS neuron_b, red_min FROM pairs
    UNION ALL
    SELECT run_id, layer, bits, neuron_j, neuron_i, red_min FROM pairs
    UNION ALL
    SELECT run_id, layer, bits, neuron, neuron, mutual_info FROM top_neurons
)
SELECT
    run_id,     -- the run drawn
    layer,      -- hidden layer 1..L
    bits,       -- quantizer bits
    neuron_a,   -- row neuron
    neuron_b,   -- column neuron
    red_min     -- red_min(a, b) in bits; I(Ta;Y) on the diagonal
FROM both_orders
ORDER BY layer, neuron_a, neuron_b
