-- pairs_packed: the bit sets that sql/pairs_counts.sql ANDs, one row per (unit, bin, class) with its layer.
-- Input packed_bitsets (neuron, bin, class, words): pipeline.measures.pack_codes' layout over the selected
-- neurons, numbered 0..U-1 across layers ("units"), with each row's 64-sample words as one BLOB (same
-- bytes); units (unit, layer, neuron). Materialized as the table pairs_packed by pipeline/pairs.py (every cursor of its blocks reads it).
SELECT
    p.neuron AS unit,         -- unit number (0..U-1, ordered by layer, then neuron)
    units.layer,              -- its hidden layer
    p.bin,                    -- code t, 0..2^bits-1
    p.class,                  -- label y
    p.words::BIT AS samples   -- bit k set: the class's k-th validation sample has code t (padding never set)
FROM packed_bitsets AS p
JOIN units ON units.unit = p.neuron
WHERE octet_length(p.words) > 0  -- a class without samples has no words (and no counts)
