-- scorecard: one row per claim and group: the mean statistic over the group's seeds with its 95 %
-- t-interval (n - 1 degrees of freedom) and the verdict.
WITH per_group AS (
    SELECT claim, statement, group_name, page, chart,
        count(statistic) AS n_seeds,
        avg(statistic) AS effect,
        stddev_samp(statistic) AS sd
    FROM claim_statistics
    WHERE statistic IS NOT NULL
    GROUP BY ALL
),
intervals AS (
    SELECT *, t_quantile_95(n_seeds - 1) * sd / sqrt(n_seeds) AS half_width
    FROM per_group
)
SELECT
    claim,          -- claim id (docs/scorecard.md), e.g. 2b
    statement,      -- what the statistic tests, in words
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
    page,           -- the report page (group) the statistic rests on
    chart           -- the chart of that page
FROM intervals
