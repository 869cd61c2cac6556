-- measures_js: JS subset separation of every (bits, neuron), in bits (docs/measures.md): the largest
-- I(T; 1[Y in S]) over the 2^(K-1) - 1 non-empty subsets S of {0..K-2}, and that S as a bitmask. Each S
-- stands for the split {S, complement}; the complement holds class K-1.
--
-- Method. With g(x) = x ln x, a bin t of n(t) samples and the subset count n(t, S) = sum_{y in S} n(t, y):
--     N ln(2) I(T; 1[Y in S]) = sum_t w_t [g(n(t, S)) + g(n(t) - n(t, S)) - g(n(t))]
-- over the used bins (w = +1) and one more "bin" holding the class marginal n(y), N samples (w = -1).
-- The subset counts meet in the middle: S = L | H with L over classes 0..h-1 and H over classes h..K-2
-- (h = K // 2). L is a row (2^h rows per bin); H is a column (PIVOT makes one column hi<H> per high
-- subset), so a bin's 2^(K-1) terms are evaluated column by column and summed over bins by one GROUP BY.
-- Only the rows near the best are unpivoted to find the argmax.
-- Inputs: measures_cells, labels. Parameters: ${n_classes} = K, ${tie}.
-- Materialized as the temp table measures_js by pipeline/measures.py.
WITH bins AS (
    -- per used bin: weight +1, n(t) and the class counts n(t, y) as a dense list ...
    SELECT bits, neuron, bin, 1 AS weight, any_value(n_t)::DOUBLE AS n_t, list(n::DOUBLE ORDER BY class) AS n_by_class
    FROM measures_cells
    GROUP BY bits, neuron, bin
    UNION ALL
    -- ... and the class marginal n(y) as one more bin, of weight -1
    SELECT bits, neuron, -1, -1, any_value(n_total)::DOUBLE, list(n_y::DOUBLE ORDER BY class)
    FROM (SELECT DISTINCT bits, neuron, class, n_y, n_total FROM measures_cells)
    GROUP BY bits, neuron
),

neuron_bins AS (
    -- the same rows with each neuron's bins one after another, so the GROUP BY in subset_info keeps a
    -- neuron's partial sums in cache
    SELECT bits, neuron, unnest(bin_ids) AS bin, unnest(weights) AS weight, unnest(n_ts) AS n_t,
        unnest(class_counts) AS n_by_class
    FROM (
        SELECT bits, neuron, list(bin ORDER BY bin) AS bin_ids, list(weight ORDER BY bin) AS weights,
            list(n_t ORDER BY bin) AS n_ts, list(n_by_class ORDER BY bin) AS class_counts
        FROM bins
        GROUP BY bits, neuron
    )
),

low_subsets AS (
    -- L as a bitmask over classes 0..h-1 (bit y for class y) and as a 0/1 membership vector
    SELECT range AS lo, [((range >> y) & 1)::DOUBLE FOR y IN range(${n_classes} // 2)] AS member
    FROM range(1 << (${n_classes} // 2))
),

high_subsets AS (
    -- one column hi<H> per H over classes h..K-2 (bit y - h for class y), holding its membership vector
    PIVOT (
        SELECT 'hi' || range AS hi, [((range >> y) & 1)::DOUBLE FOR y IN range(${n_classes} - 1 - ${n_classes} // 2)] AS member
        FROM range(1 << (${n_classes} - 1 - ${n_classes} // 2))
    ) ON hi USING first(member)
),

high_counts AS (
    -- per bin: n(t, H) in column hi<H>
    SELECT
        bits, neuron, bin, weight, n_t,
        n_by_class[1:${n_classes} // 2] AS low_class_counts,
        list_dot_product(n_by_class[${n_classes} // 2 + 1:${n_classes} - 1], COLUMNS('^hi[0-9]+$'))
    FROM neuron_bins, high_subsets
),

subset_counts AS (
    -- per (bin, L): n(t, L | H) in column hi<H>
    SELECT
        bits, neuron, lo, bin, weight, n_t,
        list_dot_product(low_class_counts, member) + COLUMNS('^hi[0-9]+$')
    FROM high_counts, low_subsets
),

subset_info AS (
    -- per L: sum_t w_t [g(n(t, S)) + g(n(t) - n(t, S))] in column hi<H> (S = L | H), and sum_t w_t g(n(t))
    -- (this model runs on one DuckDB thread, pipeline/measures.py: the sums add the bins in one order)
    SELECT
        bits, neuron, lo,
        sum(weight * (
            COLUMNS('^hi[0-9]+$') * ln(greatest(COLUMNS('^hi[0-9]+$'), 1))
            + (n_t - COLUMNS('^hi[0-9]+$')) * ln(greatest(n_t - COLUMNS('^hi[0-9]+$'), 1))
        )),
        sum(weight * n_t * ln(n_t)) AS g_bins
    FROM subset_counts
    GROUP BY bits, neuron, lo
),

subset_bits AS (
    -- I(T; 1[Y in L | H]) in bits, in column hi<H>
    SELECT bits, neuron, lo, (COLUMNS('^hi[0-9]+$') - g_bins) / (n_total * ln(2))
    FROM subset_info, (SELECT count(*) AS n_total FROM labels)
),

row_best AS (
    SELECT *, greatest(*COLUMNS('^hi[0-9]+$')) AS row_max
    FROM subset_bits
),

best AS (
    SELECT bits, neuron, max(row_max) AS best
    FROM row_best
    GROUP BY bits, neuron
),

near_best AS (
    -- the rows (L) holding a subset within ${tie} of the best, one row per H
    UNPIVOT (
        SELECT row_best.* EXCLUDE (row_max), best.best
        FROM row_best
        JOIN best USING (bits, neuron)
        WHERE row_max >= best - ${tie}
    ) ON COLUMNS('^hi[0-9]+$') INTO NAME hi VALUE info
),

candidates AS (
    SELECT bits, neuron, best, info, lo | (replace(hi, 'hi', '')::BIGINT << (${n_classes} // 2)) AS mask
    FROM near_best
)

SELECT
    bits,                               -- quantizer bits
    neuron,                             -- neuron index within the layer
    max(info) AS js_subset_separation,  -- max over non-empty S of I(T; 1[Y in S])
    min(mask) FILTER (WHERE info >= best - ${tie}) AS js_subset  -- that S, bit y set for y in S (ties within ${tie}: smallest)
FROM candidates
WHERE mask > 0  -- the empty set is no split
GROUP BY bits, neuron
