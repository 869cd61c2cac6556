-- pairs_cells: the full joint table n(ti, tj, y) of every pair in pairs_counts, every bin pair and class.
-- The cells with ti = 0 or tj = 0 are margins minus counted cells: n(ti, 0, y) = n_i(ti, y) - sum_{tj>0} n(ti, tj, y),
-- n(0, tj, y) likewise, n(0, 0, y) = n(y) - sum_{ti>0} n_i(ti, y) - sum_{tj>0} n_j(tj, y) + sum_{ti,tj>0} n(ti, tj, y).
-- Inputs: pairs_counts (sql/pairs_counts.sql); measures_cells (sql/measures_cells.sql) over the units
-- (its `neuron` is the unit number). Materialized as the temp table pairs_cells by store/pairs.py.
WITH single AS (
    SELECT neuron AS unit, bin, class, n
    FROM measures_cells
    WHERE bin > 0
),

above_zero AS (
    SELECT unit, class, sum(n) AS n
    FROM single
    GROUP BY unit, class
),

classes AS (
    SELECT DISTINCT class, n_y
    FROM measures_cells
),

both_nonzero AS (
    SELECT unit_i, unit_j, bin_i, bin_j, class, n
    FROM pairs_counts
),

j_zero AS (
    SELECT p.unit_i, p.unit_j, p.bin_i, 0 AS bin_j, p.class, coalesce(any_value(s.n), 0) - sum(p.n) AS n
    FROM pairs_counts AS p
    LEFT JOIN single AS s ON s.unit = p.unit_i AND s.bin = p.bin_i AND s.class = p.class
    GROUP BY p.unit_i, p.unit_j, p.bin_i, p.class
),

i_zero AS (
    SELECT p.unit_i, p.unit_j, 0 AS bin_i, p.bin_j, p.class, coalesce(any_value(s.n), 0) - sum(p.n) AS n
    FROM pairs_counts AS p
    LEFT JOIN single AS s ON s.unit = p.unit_j AND s.bin = p.bin_j AND s.class = p.class
    GROUP BY p.unit_i, p.unit_j, p.bin_j, p.class
),

both_zero AS (
    SELECT p.unit_i, p.unit_j, 0 AS bin_i, 0 AS bin_j, p.class,
        any_value(c.n_y) - coalesce(any_value(ai.n), 0) - coalesce(any_value(aj.n), 0) + sum(p.n) AS n
    FROM pairs_counts AS p
    JOIN classes AS c ON c.class = p.class
    LEFT JOIN above_zero AS ai ON ai.unit = p.unit_i AND ai.class = p.class
    LEFT JOIN above_zero AS aj ON aj.unit = p.unit_j AND aj.class = p.class
    GROUP BY p.unit_i, p.unit_j, p.class
)

SELECT
    unit_i,             -- first neuron of the pair (unit number)
    unit_j,             -- second neuron of the pair
    bin_i,              -- ti, 0..2^bits-1
    bin_j,              -- tj, 0..2^bits-1
    class,              -- y, 0..K-1
    n::BIGINT AS n      -- n(ti, tj, y) >= 0
FROM (
    SELECT * FROM both_nonzero
    UNION ALL SELECT * FROM j_zero
    UNION ALL SELECT * FROM i_zero
    UNION ALL SELECT * FROM both_zero
)
