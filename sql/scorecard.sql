-- The claims scorecard (docs/scorecard.md). The claims parameter is every model of sql/claims/ (one SELECT per
-- claim: claim, statement, group_name, page, run_id, statistic, chart), joined by UNION ALL BY NAME.
-- A statistic is one number per run, oriented so that > 0 means "the claim holds on this run".

-- scorecard_runs: the trained runs with ablation curves, one row per run; a group is a configuration
-- differing only by seed.
CREATE OR REPLACE VIEW scorecard_runs AS
SELECT run_id, group_name, dataset, activation, regularizer, seed, hidden_sizes, len(hidden_sizes) AS n_layers,
    test_error, n_test
FROM runs
WHERE origin = 'trained' AND run_id IN (SELECT DISTINCT run_id FROM ablation_curves);

-- scorecard_auc: per run, scope, measure, bits and strategy, the areas of the low_first, high_first and
-- random curves side by side (ablation_auc; random averaged over its repeats).
CREATE OR REPLACE VIEW scorecard_auc AS
WITH ranked AS (
    SELECT run_id, scope, layer, measure, bits, strategy,
        max(auc) FILTER (WHERE ordering = 'low_first') AS low_first,   -- area of the least-first curve
        max(auc) FILTER (WHERE ordering = 'high_first') AS high_first  -- area of the most-first curve
    FROM ablation_auc
    WHERE ordering <> 'random'
    GROUP BY ALL
),
random AS (
    SELECT run_id, scope, layer, strategy, auc AS random
    FROM ablation_auc
    WHERE ordering = 'random'
)
SELECT r.group_name, r.activation, r.regularizer, r.n_layers, k.*, q.random
FROM ranked AS k
JOIN random AS q ON q.run_id = k.run_id AND q.scope = k.scope AND q.layer IS NOT DISTINCT FROM k.layer AND q.strategy = k.strategy
JOIN scorecard_runs AS r ON r.run_id = k.run_id;

-- claim_statistics: one row per claim, group and run: the claim's statistic on that run.
CREATE OR REPLACE VIEW claim_statistics AS
SELECT claim, statement, group_name, page, run_id, statistic, chart
FROM (${claims});

-- scorecard: one row per claim and group: the mean statistic over the group's seeds with its 95 %
-- t-interval (n - 1 degrees of freedom) and the verdict.
CREATE OR REPLACE VIEW scorecard AS
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
FROM intervals;
