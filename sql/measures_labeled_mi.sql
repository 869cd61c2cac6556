-- measures_labeled_mi: the best one-vs-rest information of every (bits, neuron):
-- max over all K classes y of I(T; 1[Y = y]) (an absent class gives 0), in bits.
-- Input: measures_cells. Parameters: ${tie}. Materialized as the temp table measures_labeled_mi.
WITH one_vs_rest AS (
    -- I(T; 1[Y = y]) of every class: over the bins t, the (t, Y = y) term plus the (t, Y != y) term
    SELECT
        bits, neuron, class,
        sum(
            CASE WHEN n > 0
                THEN n / n_total * log2(n * n_total / (n_t * n_y)) ELSE 0 END
            + CASE WHEN n_t > n
                THEN (n_t - n) / n_total * log2((n_t - n) * n_total / (n_t * (n_total - n_y))) ELSE 0 END
            ORDER BY bin  -- a fixed order: the same bits on any number of threads
        ) AS info
    FROM measures_cells
    GROUP BY bits, neuron, class
),

best AS (
    SELECT bits, neuron, max(info) AS labeled_mi
    FROM one_vs_rest
    GROUP BY bits, neuron
)

SELECT
    bits,         -- quantizer bits
    neuron,       -- neuron index within the layer
    labeled_mi,   -- max_y I(T; 1[Y = y])
    min(class) FILTER (WHERE info >= labeled_mi - ${tie}) AS labeled_mi_class  -- its argmax (ties within ${tie}: smallest class)
FROM one_vs_rest
JOIN best USING (bits, neuron)
GROUP BY bits, neuron, labeled_mi
