-- measures_neuron_stats: every measure of one layer, one row per (neuron, bits) (the neuron_stats table).
-- Inputs: the measures_* temp tables, counts (for active_frac) and train_means (neuron, mean_train).
-- Parameters: ${layer}, ${tie}. Materialized as the temp table measures_neuron_stats.
WITH kl AS (
    SELECT bits, neuron, max(specific_info) AS kl_selectivity
    FROM measures_specific_info
    GROUP BY bits, neuron
),

kl_class AS (
    SELECT bits, neuron, kl_selectivity, min(class) FILTER (WHERE specific_info >= kl_selectivity - ${tie}) AS kl_class
    FROM measures_specific_info
    JOIN kl USING (bits, neuron)
    GROUP BY bits, neuron, kl_selectivity
),

active AS (
    SELECT neuron, coalesce(sum(n) FILTER (WHERE bin = 1), 0) / sum(n) AS active_frac
    FROM counts
    WHERE bits = 1
    GROUP BY neuron
)

SELECT
    ${layer}::INTEGER AS layer,  -- hidden layer, 1-based
    neuron,                      -- neuron index within the layer
    bits,                        -- quantizer bits of the information measures
    entropy,                     -- H(T)
    mutual_info,                 -- I(T;Y)
    kl_selectivity,              -- max_y D(P(T|y) || P(T)) over present classes
    kl_class,                    -- its argmax (ties within ${tie}: smallest class)
    js_subset_separation,        -- max over class subsets S of I(T; 1[Y in S])
    js_subset,                   -- that S as a bitmask (the side without class K-1)
    labeled_mi,                  -- max_y I(T; 1[Y = y])
    labeled_mi_class,            -- its argmax (ties within ${tie}: smallest class)
    class_selectivity,           -- Morcos et al. index from raw class-conditional means
    mean_train,                  -- mean raw output on the training set (copied)
    active_frac                  -- share of validation samples above the 1-bit threshold (1-bit code 1)
FROM measures_entropy
JOIN kl_class USING (bits, neuron)
JOIN measures_labeled_mi USING (bits, neuron)
JOIN measures_js USING (bits, neuron)
LEFT JOIN measures_class_selectivity USING (neuron)
LEFT JOIN train_means USING (neuron)
LEFT JOIN active USING (neuron)
ORDER BY bits, neuron
