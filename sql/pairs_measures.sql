-- pairs_measures: every pair measure of the pairs in pairs_counts, in bits (plug-in probabilities
-- p = n / N; 0 log 0 = 0; g(x) = x log2 x below), and the Miller-Madow estimates of the information ones:
-- each entropy of n samples over m occupied bins gains (m - 1) / (2 n ln 2), so an information
-- H(A) - sum_b p(b) H(A | b) loses [sum_b (m_b - 1) - (m_A - 1)] / (2 N ln 2). One row per pair.
-- Definitions: docs/measures-pairs.md.
-- Inputs: pairs_counts (sql/pairs_counts.sql); measures_cells, measures_entropy, measures_specific_info
-- over the units (their `neuron` is the unit number); units (unit, layer, neuron).
-- Parameter: ${bits}. Run per block of pairs by pipeline/pairs.py.
WITH classes AS (  -- n(y) and N per class
    SELECT DISTINCT class, n_y, n_total
    FROM measures_cells
),

label AS (  -- N, sum_y g(n(y)) and the classes present
    SELECT any_value(n_total) AS n_total, sum(n_y * log2(n_y)) FILTER (WHERE n_y > 0) AS g_y,
        count(*) FILTER (WHERE n_y > 0) AS classes_present
    FROM classes
),

bin_pairs AS (  -- n(ti, tj) = sum_y n(ti, tj, y)
    SELECT unit_i, unit_j, bin_i, bin_j, sum(n) AS n
    FROM pairs_counts
    GROUP BY unit_i, unit_j, bin_i, bin_j
),

g_joint AS (  -- sum over cells of g(n(ti, tj, y))
    SELECT unit_i, unit_j, coalesce(sum(n * log2(n)) FILTER (WHERE n > 0), 0) AS g_tty
    FROM pairs_counts
    GROUP BY unit_i, unit_j
),

g_bins AS (  -- sum over bin pairs of g(n(ti, tj))
    SELECT unit_i, unit_j, coalesce(sum(n * log2(n)) FILTER (WHERE n > 0), 0) AS g_tt
    FROM bin_pairs
    GROUP BY unit_i, unit_j
),

joint_cells AS (  -- occupied cells: of (ti, tj, y), and of (ti, tj)
    SELECT unit_i, unit_j, count(*) FILTER (WHERE n > 0) AS cells_tty
    FROM pairs_counts
    GROUP BY unit_i, unit_j
),

bin_pair_cells AS (
    SELECT unit_i, unit_j, count(*) FILTER (WHERE n > 0) AS cells_tt
    FROM bin_pairs
    GROUP BY unit_i, unit_j
),

unit_cells AS (  -- per neuron: occupied bins m_T, occupied (t, y) cells, and its Miller-Madow I(T;Y)
    SELECT c.neuron AS unit, count(DISTINCT c.bin) AS bins_t,
        any_value(e.mutual_info) - ((count(*) FILTER (WHERE c.n > 0) - (SELECT count(*) FROM classes WHERE n_y > 0))
                                    - (count(DISTINCT c.bin) - 1)) / (2 * any_value(c.n_total) * ln(2)) AS mutual_info_mm
    FROM measures_cells AS c JOIN measures_entropy AS e USING (neuron)
    GROUP BY c.neuron
),

expected AS (  -- Cochran's rule on the joint table: expected counts n(ti, tj) n(y) / N of occupied bin pairs, present classes
    SELECT b.unit_i, b.unit_j,
        min(b.n * c.n_y / c.n_total) < 1 OR avg((b.n * c.n_y / c.n_total < 5)::INTEGER) > 0.2 AS small_sample
    FROM bin_pairs AS b CROSS JOIN classes AS c
    WHERE b.n > 0 AND c.n_y > 0
    GROUP BY b.unit_i, b.unit_j
),

red_min AS (  -- sum_y p(y) min(I_spec(Ti;y), I_spec(Tj;y)); classes absent from the data have no I_spec row
    SELECT g.unit_i, g.unit_j, coalesce(sum(c.n_y / c.n_total * least(si.specific_info, sj.specific_info)), 0) AS red_min
    FROM g_joint AS g
    JOIN measures_specific_info AS si ON si.neuron = g.unit_i
    JOIN measures_specific_info AS sj ON sj.neuron = g.unit_j AND sj.class = si.class
    JOIN classes AS c ON c.class = si.class
    GROUP BY g.unit_i, g.unit_j
),

information AS (  -- I(Ti,Tj;Y) = (g(N) - sum_y g(n(y)) - g_tt + g_tty) / N; I(Ti;Tj) = H(Ti) + H(Tj) - H(Ti,Tj)
    SELECT
        g_joint.unit_i,
        g_joint.unit_j,
        (label.n_total * log2(label.n_total) - label.g_y - g_bins.g_tt + g_joint.g_tty) / label.n_total AS joint_mi,
        ei.entropy + ej.entropy - (label.n_total * log2(label.n_total) - g_bins.g_tt) / label.n_total AS pair_mi,
        ei.mutual_info AS mutual_info_i,
        ej.mutual_info AS mutual_info_j,
        coalesce(red_min.red_min, 0) AS red_min,
        -- Miller-Madow: I(Ti,Tj;Y) loses [(cells_tty - classes present) - (cells_tt - 1)] / (2 N ln 2);
        -- I(Ti;Tj) = H(Ti) + H(Tj) - H(Ti,Tj) loses (cells_tt - m_i - m_j + 1) / (2 N ln 2)
        (label.n_total * log2(label.n_total) - label.g_y - g_bins.g_tt + g_joint.g_tty) / label.n_total
            - ((joint_cells.cells_tty - label.classes_present) - (bin_pair_cells.cells_tt - 1)) / (2 * label.n_total * ln(2)) AS joint_mi_mm,
        ei.entropy + ej.entropy - (label.n_total * log2(label.n_total) - g_bins.g_tt) / label.n_total
            - (bin_pair_cells.cells_tt - ci.bins_t - cj.bins_t + 1) / (2 * label.n_total * ln(2)) AS pair_mi_mm,
        ci.mutual_info_mm AS mutual_info_i_mm,
        cj.mutual_info_mm AS mutual_info_j_mm,
        expected.small_sample
    FROM g_joint
    JOIN g_bins USING (unit_i, unit_j)
    JOIN joint_cells USING (unit_i, unit_j)
    JOIN bin_pair_cells USING (unit_i, unit_j)
    JOIN expected USING (unit_i, unit_j)
    JOIN unit_cells AS ci ON ci.unit = g_joint.unit_i
    JOIN unit_cells AS cj ON cj.unit = g_joint.unit_j
    CROSS JOIN label
    JOIN measures_entropy AS ei ON ei.neuron = g_joint.unit_i
    JOIN measures_entropy AS ej ON ej.neuron = g_joint.unit_j
    LEFT JOIN red_min USING (unit_i, unit_j)
),

atoms AS (
    SELECT *, least(mutual_info_i, mutual_info_j) AS red_mmi
    FROM information
)

SELECT
    ${bits}::INTEGER AS bits,          -- quantizer bits of both codes
    ui.layer AS layer_i,               -- hidden layer of the first neuron (1-based)
    ui.neuron AS neuron_i,             -- first neuron ((layer_i, neuron_i) < (layer_j, neuron_j))
    uj.layer AS layer_j,               -- hidden layer of the second neuron
    uj.neuron AS neuron_j,             -- second neuron
    mutual_info_i,                     -- I(Ti;Y)
    mutual_info_j,                     -- I(Tj;Y)
    joint_mi,                          -- I(Ti,Tj;Y)
    greatest(pair_mi, 0) AS pair_mi,   -- I(Ti;Tj) (rounding below 0 clipped)
    red_mmi,                           -- min(I(Ti;Y), I(Tj;Y))
    red_min,                           -- Williams-Beer I_min: sum_y p(y) min(I_spec(Ti;y), I_spec(Tj;y))
    mutual_info_i - red_min AS unique_i_min,                               -- I(Ti;Y) - red_min
    mutual_info_j - red_min AS unique_j_min,                               -- I(Tj;Y) - red_min
    joint_mi - mutual_info_i - mutual_info_j + red_min AS synergy_min,     -- I(Ti,Tj;Y) - I(Ti;Y) - I(Tj;Y) + red_min
    mutual_info_i - red_mmi AS unique_i_mmi,                               -- I(Ti;Y) - red_mmi
    mutual_info_j - red_mmi AS unique_j_mmi,                               -- I(Tj;Y) - red_mmi
    joint_mi - mutual_info_i - mutual_info_j + red_mmi AS synergy_mmi,     -- I(Ti,Tj;Y) - I(Ti;Y) - I(Tj;Y) + red_mmi
    mutual_info_i + mutual_info_j - joint_mi AS co_info,                   -- > 0: redundancy dominates
    -- the Miller-Madow estimates (they may fall below 0) and whether the joint table has too few samples
    joint_mi_mm AS joint_mi_miller_madow,                                  -- I(Ti,Tj;Y)
    pair_mi_mm AS pair_mi_miller_madow,                                    -- I(Ti;Tj)
    mutual_info_i_mm + mutual_info_j_mm - joint_mi_mm AS co_info_miller_madow,  -- co-information
    joint_mi_mm - greatest(mutual_info_i_mm, mutual_info_j_mm) AS synergy_mmi_miller_madow,  -- I(Ti,Tj;Y) - max I(T;Y)
    small_sample                       -- an expected count n(ti, tj) n(y) / N below 1, or over 20 % below 5
FROM atoms
JOIN units AS ui ON ui.unit = atoms.unit_i
JOIN units AS uj ON uj.unit = atoms.unit_j
ORDER BY layer_i, neuron_i, layer_j, neuron_j
