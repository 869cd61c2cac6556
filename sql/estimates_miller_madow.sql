-- estimates_miller_madow: the Miller-Madow estimate of every measure of one run, one row per
-- (layer, bits, neuron), a column per measure, in bits (docs/measures.md, "Estimators").
-- Miller-Madow adds (m - 1) / (2 n ln 2) to each plug-in entropy of n samples over m occupied bins, so an
-- information H(T) - sum_g p(g) H(T | g) loses [sum_g (m_g - 1) - (m_T - 1)] / (2 N ln 2).
-- KL selectivity: the max over present classes of D_y - [(m_y - 1) / n_y - (m_T - 1) / N] / (2 ln 2) (each
-- class's share of the information's correction); labeled MI: the max over classes of the corrected
-- I(T; 1[Y = y]); JS: the corrected I(T; 1[Y in S]) of the plug-in's subset S (js_subset, not maximized again).
-- Parameters: ${n_classes} = K. Inputs (one run, pipeline/estimates.py): estimate_counts (layer, bits, neuron, bin, class, n > 0),
-- estimate_stats (its neuron_stats rows), estimate_specific (its specific_info rows).
WITH cells AS (
    SELECT layer, bits, neuron, bin, class, n::DOUBLE AS n
    FROM estimate_counts
),

bins AS (
    -- n(t) and n(t, S) of the plug-in's JS subset S, per used bin
    SELECT
        layer, bits, neuron, bin,
        sum(n) AS n_t,
        sum(n) FILTER (WHERE (stats.js_subset >> class) & 1 = 1) AS n_subset
    FROM cells
    JOIN estimate_stats AS stats USING (layer, bits, neuron)
    GROUP BY layer, bits, neuron, bin
),

classes AS (
    -- n(y) and m_y, the bins class y occupies, per present class
    SELECT layer, bits, neuron, class, sum(n) AS n_y, count(*) AS occupied
    FROM cells
    GROUP BY layer, bits, neuron, class
),

neurons AS (
    -- N, m_T (occupied bins), and the occupied cells and non-empty sides of the JS split
    SELECT
        layer, bits, neuron,
        sum(n_t) AS n_total,
        count(*) AS bins_used,
        count(*) FILTER (WHERE n_subset > 0) + count(*) FILTER (WHERE n_t > coalesce(n_subset, 0)) AS split_cells,
        (sum(coalesce(n_subset, 0)) > 0)::INTEGER + (sum(n_t - coalesce(n_subset, 0)) > 0)::INTEGER AS split_sides
    FROM bins
    GROUP BY layer, bits, neuron
),

present AS (
    -- m_Y (present classes) and m_TY (occupied cells: the sum of the classes' occupied bins)
    SELECT layer, bits, neuron, count(*) AS classes_present, sum(occupied) AS cells_used
    FROM classes
    GROUP BY layer, bits, neuron
),

one_vs_rest AS (
    -- the (t, Y = y) half of I(T; 1[Y = y]) of every present class, and its occupied cells m_y
    SELECT
        layer, bits, neuron, class,
        sum(cells.n / neurons.n_total * log2(cells.n * neurons.n_total / (bins.n_t * classes.n_y)) ORDER BY bin)
            AS info_in,
        any_value(classes.occupied) AS cells_in,
        any_value(neurons.n_total) AS n_total,
        any_value(neurons.bins_used) AS bins_used
    FROM cells
    JOIN bins USING (layer, bits, neuron, bin)
    JOIN classes USING (layer, bits, neuron, class)
    JOIN neurons USING (layer, bits, neuron)
    GROUP BY layer, bits, neuron, class
),

rest_terms AS (
    -- the (t, Y != y) half of I(T; 1[Y = y]) over the bins where other classes fall
    SELECT
        bins.layer, bins.bits, bins.neuron, classes.class,
        sum(
            (bins.n_t - coalesce(own.n, 0)) / neurons.n_total
                * log2((bins.n_t - coalesce(own.n, 0)) * neurons.n_total / (bins.n_t * (neurons.n_total - classes.n_y)))
            ORDER BY bins.bin
        ) AS info_rest,
        count(*) AS cells_rest
    FROM bins
    JOIN neurons USING (layer, bits, neuron)
    JOIN classes ON classes.layer = bins.layer AND classes.bits = bins.bits AND classes.neuron = bins.neuron
    LEFT JOIN cells AS own
        ON own.layer = bins.layer AND own.bits = bins.bits AND own.neuron = bins.neuron AND own.bin = bins.bin
        AND own.class = classes.class
    WHERE bins.n_t > coalesce(own.n, 0)
    GROUP BY ALL
),

labeled AS (
    SELECT
        layer, bits, neuron,
        max(
            info_in + coalesce(info_rest, 0)
            - (cells_in + coalesce(cells_rest, 0) - bins_used - (1 + (coalesce(cells_rest, 0) > 0)::INTEGER) + 1)
              / (2 * n_total * ln(2))
        ) AS labeled_mi
    FROM one_vs_rest
    LEFT JOIN rest_terms USING (layer, bits, neuron, class)
    GROUP BY layer, bits, neuron
),

kl AS (
    SELECT
        layer, bits, neuron,
        max(specific.specific_info - ((classes.occupied - 1) / classes.n_y - (neurons.bins_used - 1) / neurons.n_total) / (2 * ln(2)))
            AS kl_selectivity
    FROM estimate_specific AS specific
    JOIN classes USING (layer, bits, neuron, class)
    JOIN neurons USING (layer, bits, neuron)
    GROUP BY layer, bits, neuron
),

corrected AS (
    SELECT
        layer, bits, neuron,
        stats.entropy + (neurons.bins_used - 1) / (2 * neurons.n_total * ln(2)) AS entropy,
        stats.mutual_info - (present.cells_used - neurons.bins_used - present.classes_present + 1)
            / (2 * neurons.n_total * ln(2)) AS mutual_info,
        kl.kl_selectivity,
        -- an absent class carries no information: it enters the max as 0
        CASE WHEN present.classes_present < ${n_classes} THEN greatest(labeled.labeled_mi, 0) ELSE labeled.labeled_mi END
            AS labeled_mi,
        stats.js_subset_separation - (neurons.split_cells - neurons.bins_used - neurons.split_sides + 1)
            / (2 * neurons.n_total * ln(2)) AS js_subset_separation
    FROM estimate_stats AS stats
    JOIN neurons USING (layer, bits, neuron)
    JOIN present USING (layer, bits, neuron)
    JOIN kl USING (layer, bits, neuron)
    JOIN labeled USING (layer, bits, neuron)
)

SELECT
    layer,                  -- hidden layer, 1-based
    neuron,                 -- neuron index within the layer
    bits,                   -- quantizer bits
    entropy,                -- each measure's Miller-Madow estimate, in bits (may fall below 0)
    mutual_info,
    kl_selectivity,
    labeled_mi,
    js_subset_separation
FROM corrected
ORDER BY layer, bits, neuron
