-- counts: the contingency table n(bin, class) of every neuron of one layer, for one quantizer (bits).
-- Input packed_codes (laid out by pipeline/measures.py): one row per (neuron, bin, class) whose `words`
-- (UBIGINT[]) are bitsets over that class's validation samples, 64 samples a word: bit i is set when
-- sample i has this code. A count is the number of set bits; padding bits are never set.
WITH packed AS (
    SELECT neuron, bin, class, words
    FROM packed_codes
),

counted AS (
    SELECT
        neuron,
        bin,
        class,
        coalesce(list_sum(list_transform(words, lambda w: bit_count(w))), 0) AS n
    FROM packed
)

SELECT
    neuron::INTEGER AS neuron,  -- neuron index within the layer, 0..M-1
    bin::INTEGER AS bin,        -- quantized output T, 0..2^bits-1
    class::INTEGER AS class,    -- true label Y, 0..K-1
    n::BIGINT AS n              -- validation samples with this bin and this label (only n > 0 is kept)
FROM counted
WHERE n > 0
ORDER BY neuron, bin, class
