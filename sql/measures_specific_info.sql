-- measures_specific_info: the spectrum behind KL selectivity, one row per (bits, neuron, class)
-- for every class present in the data (absent classes get no row), in bits.
-- Input: measures_cells. Parameters: ${layer}. Materialized as the temp table measures_specific_info.
WITH spectrum AS (
    SELECT bits, neuron, class, sum(n / n_y * log2(n * n_total / (n_t * n_y)) ORDER BY bin) AS specific_info
    FROM measures_cells
    WHERE n > 0
    GROUP BY bits, neuron, class
)

SELECT
    ${layer}::INTEGER AS layer,  -- hidden layer, 1-based
    neuron,                      -- neuron index within the layer
    bits,                        -- quantizer bits
    class,                       -- class y (present in the data)
    specific_info                -- D(P(T|y) || P(T)) = sum_t p(t|y) log2(p(t|y) / p(t))
FROM spectrum
ORDER BY bits, neuron, class
