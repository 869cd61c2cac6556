-- measures_entropy: entropy H(T) and mutual information I(T;Y) of every (bits, neuron), in bits,
-- with plug-in probabilities p = n / N (docs/measures.md, "Information measures"; 0 log 0 = 0).
-- Input: measures_cells. Materialized as the temp table measures_entropy. Every float sum runs in a fixed
-- order (ORDER BY inside the aggregate): the same counts give the same bits on any number of threads.
WITH bins AS (
    SELECT DISTINCT bits, neuron, bin, n_t, n_total
    FROM measures_cells
),

entropy AS (
    SELECT bits, neuron, sum(n_t / n_total * log2(n_total / n_t) ORDER BY bin) AS entropy
    FROM bins
    GROUP BY bits, neuron
),

mutual_info AS (
    SELECT bits, neuron, sum(n / n_total * log2(n * n_total / (n_t * n_y)) ORDER BY bin, class) AS mutual_info
    FROM measures_cells
    WHERE n > 0
    GROUP BY bits, neuron
)

SELECT
    bits,         -- quantizer bits
    neuron,       -- neuron index within the layer
    entropy,      -- H(T) = -sum_t p(t) log2 p(t)
    mutual_info   -- I(T;Y) = sum_{t,y} p(t,y) log2(p(t,y) / (p(t) p(y)))
FROM entropy
JOIN mutual_info USING (bits, neuron)
