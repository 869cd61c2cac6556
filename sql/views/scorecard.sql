-- scorecard: one row per claim and group: the mean statistic over the group's seeds with its 95 %
-- t-interval (n - 1 degrees of freedom), the verdict, and the verdict corrected for multiplicity.
-- A family of the correction is every cell of this scorecard with 2 seeds or more and the same curve part
-- (the whole curves, or their early part; docs/scorecard.md). The information measures are ranked by
-- scorecard_estimator(): plug-in values unless SET VARIABLE scorecard_estimator names a corrected one.
-- Holm controls the chance of any false verdict, Benjamini-Hochberg the expected share of false verdicts.
WITH per_group AS (
    SELECT curve_part, claim, statement, group_name, page, chart,
        count(statistic) AS n_seeds,
        avg(statistic ORDER BY run_id) AS effect,  -- in a fixed order: the same bits every query
        stddev_samp(statistic ORDER BY run_id) AS sd
    FROM claim_statistics
    WHERE statistic IS NOT NULL
    GROUP BY ALL
),
tested AS (
    SELECT *,
        t_quantile_95(n_seeds - 1) * sd / sqrt(n_seeds) AS half_width,
        -- two-sided one-sample t-test of "mean statistic = 0" (seeds agreeing exactly: p 0, or 1 at effect 0)
        CASE WHEN n_seeds < 2 THEN NULL
             WHEN sd = 0 THEN CASE WHEN effect = 0 THEN 1.0 ELSE 0.0 END
             ELSE t_two_sided_p(effect / (sd / sqrt(n_seeds)), n_seeds - 1) END AS p_value
    FROM per_group
),
ranked AS (  -- the family in order of p-value: rank i of m
    SELECT *,
        row_number() OVER (PARTITION BY curve_part ORDER BY p_value, claim, group_name) AS p_rank,
        count(*) OVER (PARTITION BY curve_part) AS family
    FROM tested
    WHERE p_value IS NOT NULL
),
adjusted AS (
    SELECT curve_part, claim, group_name,
        -- Holm: max over ranks j <= i of min(1, (m - j + 1) p_j)
        max(least(1.0, (family - p_rank + 1) * p_value)) OVER (PARTITION BY curve_part ORDER BY p_rank ROWS UNBOUNDED PRECEDING) AS p_holm,
        -- Benjamini-Hochberg: min over ranks j >= i of min(1, m p_j / j)
        min(least(1.0, family * p_value / p_rank)) OVER (PARTITION BY curve_part ORDER BY p_rank ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS p_bh
    FROM ranked
)
SELECT
    curve_part,     -- 'whole': statistics over the whole ablation curves; 'early': over their early part
    claim,          -- claim id (docs/scorecard.md), e.g. 2b
    statement,      -- what the statistic tests, in words
    scorecard_estimator() AS estimator,  -- the estimator the information measures were ranked by (sql/macros.sql)
    group_name,     -- the configuration (runs differing only by seed), or a comparison of two
    n_seeds,        -- runs (seeds) averaged
    effect,         -- mean of the statistic over the seeds; > 0 is the claimed direction
    effect - half_width AS ci_low,   -- 95 % t-interval; NULL with 1 seed
    effect + half_width AS ci_high,
    CASE
        WHEN n_seeds < 2 THEN '1 seed'
        WHEN effect - half_width > 0 THEN 'holds'
        WHEN effect + half_width < 0 THEN 'contradicted'
        ELSE 'inconclusive'
    END AS verdict, -- holds: the interval excludes 0 on the claimed side; contradicted: on the other
    p_value,        -- two-sided t-test of a zero mean statistic (p < 0.05 when the interval excludes 0)
    p_holm,         -- p_value adjusted for the family by Holm's step-down method
    p_bh,           -- p_value adjusted by Benjamini-Hochberg (false discovery rate)
    CASE WHEN n_seeds < 2 THEN '1 seed' WHEN p_holm < 0.05 THEN (CASE WHEN effect > 0 THEN 'holds' ELSE 'contradicted' END)
         ELSE 'inconclusive' END AS verdict_holm,  -- the verdict at family-wise error 5 %
    CASE WHEN n_seeds < 2 THEN '1 seed' WHEN p_bh < 0.05 THEN (CASE WHEN effect > 0 THEN 'holds' ELSE 'contradicted' END)
         ELSE 'inconclusive' END AS verdict_bh,    -- the verdict at false discovery rate 5 %
    page,           -- the report page (group) the statistic rests on
    chart           -- the chart of that page
FROM tested
LEFT JOIN adjusted USING (curve_part, claim, group_name)
