-- counts: the contingency table n(bin, class) of each neuron on a split.
SELECT
    run_id,
    split,    -- 'val' (the measures) | 'test'
    layer,    -- hidden layer 1..L
    bits,     -- quantizer bits
    neuron,   -- 0-based index within the layer
    bin,      -- quantized output 0..2^bits-1
    class,    -- label 0..K-1
    n         -- samples of this class whose output falls in this bin
FROM stg_counts
