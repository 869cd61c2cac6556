-- summary_runs: the headline numbers of the runs a command just made (the CLI's closing summary and
-- the flow run's Prefect artifact). Parameter: ${run_ids}, a SQL list of run_id strings.
WITH chosen AS (
    SELECT run_id, name, group_name, test_error
    FROM runs
    WHERE run_id IN ${run_ids}
),

layer_medians AS (
    SELECT run_id, layer, median(mutual_info) AS median_mi
    FROM neuron_stats
    WHERE bits = 1 AND run_id IN ${run_ids}
    GROUP BY run_id, layer
),

by_run AS (
    SELECT run_id, list(round(median_mi, 3) ORDER BY layer) AS median_mi_by_layer
    FROM layer_medians
    GROUP BY run_id
)

SELECT
    c.run_id,
    c.name,
    c.group_name,
    c.test_error,           -- fraction misclassified by the unablated network
    b.median_mi_by_layer    -- median I(T;Y) in bits at 1 bit, hidden layers 1..L
FROM chosen AS c
LEFT JOIN by_run AS b USING (run_id)
ORDER BY c.name
