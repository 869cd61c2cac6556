-- measures_class_selectivity: the class selectivity index of Morcos et al. (2018) of every neuron,
-- from the class-conditional means of its raw (unquantized) validation outputs:
-- (mu_max - mu_rest) / (mu_max + mu_rest), mu_rest = mean of the other present classes' means.
-- Input raw_by_class (laid out by pipeline/measures.py): one row per (neuron, class) listing the raw
-- outputs of that class's samples (empty for an absent class).
-- Materialized as the temp table measures_class_selectivity.
WITH class_means AS (
    -- mu(y): mean raw output over the samples of class y (present classes only)
    SELECT neuron, class, list_avg(raw) AS mu
    FROM raw_by_class
    WHERE len(raw) > 0
),

per_neuron AS (
    SELECT neuron, max(mu) AS mu_max, sum(mu ORDER BY class) AS mu_sum, count(*) AS n_present
    FROM class_means
    GROUP BY neuron
),

contrast AS (
    SELECT neuron, mu_max, CASE WHEN n_present > 1 THEN (mu_sum - mu_max) / (n_present - 1) END AS mu_rest
    FROM per_neuron
)

SELECT
    neuron,  -- neuron index within the layer
    CASE WHEN mu_rest IS NULL OR mu_max + mu_rest = 0 THEN 0.0
        ELSE (mu_max - mu_rest) / (mu_max + mu_rest) END AS class_selectivity  -- 0 when the denominator is 0 or only one class is present
FROM contrast
