-- quantizers: thresholds that map a neuron's output T to a bin (code = #thresholds below T).
-- One row per (run, layer, bits).
SELECT
    run_id,
    layer,       -- hidden layer 1..L
    bits,        -- quantizer resolution: 2^bits bins
    method,      -- 'uniform' | 'quantile'
    thresholds   -- ascending bin edges fitted on the validation outputs
FROM stg_quantizers
