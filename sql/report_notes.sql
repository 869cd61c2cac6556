-- report_notes: what a reader of the page must know about how its curves were made (source `selected_runs`).
-- One row per note. Today: runs whose curves were computed on different k-grids (one every k, another on
-- --steps N), averaged together in one band.
WITH points AS (
    -- k values per curve of each run (a curve holds every k any ablate computed for it)
    SELECT run_id, scope, layer, measure, bits, ordering, strategy, repeat, count(*) AS n_points
    FROM ablation_curves JOIN selected_runs USING (run_id)
    WHERE estimator = 'plugin'  -- the curves the report draws
    GROUP BY ALL
),
grids AS (
    SELECT scope, layer, measure, bits, ordering, strategy, repeat,
        count(DISTINCT n_points) AS n_grids, min(n_points) AS fewest, max(n_points) AS most
    FROM points
    GROUP BY ALL
)
SELECT 'curves averaged over runs computed on different k-grids (' || min(fewest) || ' to ' || max(most)
       || ' points per curve): bands between grid points interpolate; ablate every run with the same --steps to compare them'
       AS note
FROM grids
WHERE n_grids > 1
HAVING count(*) > 0
