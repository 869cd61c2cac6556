-- staging: every runs partition written under tables/runs/run_id=<id>/, one row per stored row.
-- run_id comes from the hive partition directory; the zero-row '__empty__' partition only fixes the schema.
-- Partitions written before origin, parent_run_id, pruned_by, kept_fraction, n_params existed lack them:
-- the typed zero-row SELECT below makes them NULL there (and present even if no partition has them).
CREATE OR REPLACE VIEW stg_runs AS
SELECT *
FROM read_parquet('${tables}/runs/*/*.parquet', hive_partitioning = true, hive_types = {'run_id': VARCHAR}, union_by_name = true)
WHERE run_id <> '__empty__'
UNION ALL BY NAME
SELECT
    NULL::VARCHAR AS origin,
    NULL::VARCHAR AS parent_run_id,
    NULL::VARCHAR AS pruned_by,
    NULL::DOUBLE AS kept_fraction,
    NULL::BIGINT AS n_params
WHERE false;
