-- neuron_redundancy: per neuron and bits, aggregates over its partners in the same layer (neuron_pairs).
SELECT
    run_id, layer, neuron, bits,
    mutual_info,         -- I(Ti;Y)
    n_partners,          -- partners in the computed pairs (layer size - 1, unless restricted by --top)
    max_red_min,         -- max_j red_min(i, j)
    max_red_partner,     -- that partner j (smallest index among ties)
    unique_min,          -- I(Ti;Y) - max_red_min: what no single other neuron duplicates
    mean_synergy_min,    -- mean_j synergy_min(i, j)
    max_synergy_min      -- max_j synergy_min(i, j)
FROM stg_neuron_redundancy
