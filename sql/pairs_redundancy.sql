-- pairs_redundancy: per neuron, what its partners in the same layer share with it about the class.
-- One row per (layer, neuron) that has at least one partner among the pairs.
-- Input: pairs_rows (the pairs_measures rows of every block, one bits value). Parameter: ${tie}
-- (red_min values within tie bits of the maximum are tied: the smallest partner index wins).
WITH within_layer AS (
    SELECT bits, layer_i AS layer, neuron_i, neuron_j, mutual_info_i, mutual_info_j, red_min, synergy_min
    FROM pairs_rows
    WHERE layer_i = layer_j
),

both_sides AS (
    SELECT bits, layer, neuron_i AS neuron, neuron_j AS partner, mutual_info_i AS mutual_info, red_min, synergy_min
    FROM within_layer
    UNION ALL
    SELECT bits, layer, neuron_j AS neuron, neuron_i AS partner, mutual_info_j AS mutual_info, red_min, synergy_min
    FROM within_layer
),

per_neuron AS (
    SELECT
        bits, layer, neuron,
        any_value(mutual_info) AS mutual_info,
        count(*) AS n_partners,
        max(red_min) AS max_red_min,
        avg(synergy_min) AS mean_synergy_min,
        max(synergy_min) AS max_synergy_min
    FROM both_sides
    GROUP BY bits, layer, neuron
),

best_partner AS (
    SELECT b.bits, b.layer, b.neuron, min(b.partner) AS max_red_partner
    FROM both_sides AS b
    JOIN per_neuron AS p USING (bits, layer, neuron)
    WHERE b.red_min >= p.max_red_min - ${tie}
    GROUP BY b.bits, b.layer, b.neuron
)

SELECT
    layer::INTEGER AS layer,                     -- hidden layer, 1-based
    neuron::INTEGER AS neuron,                   -- neuron index within the layer
    bits::INTEGER AS bits,                       -- quantizer bits
    mutual_info,                                 -- I(Ti;Y)
    n_partners::INTEGER AS n_partners,           -- partners j in the same layer among the computed pairs
    max_red_min,                                 -- max_j red_min(i, j)
    max_red_partner::INTEGER AS max_red_partner, -- that j (smallest index among ties)
    mutual_info - max_red_min AS unique_min,     -- I(Ti;Y) - max_j red_min(i, j): what no single partner duplicates
    mean_synergy_min,                            -- mean_j synergy_min(i, j)
    max_synergy_min                              -- max_j synergy_min(i, j)
FROM per_neuron
JOIN best_partner USING (bits, layer, neuron)
ORDER BY layer, neuron
