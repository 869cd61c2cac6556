-- staging: every pruning_curves partition written under tables/pruning_curves/run_id=<id>/, one row per stored row.
-- run_id comes from the hive partition directory; the zero-row '__empty__' partition only fixes the schema.
CREATE OR REPLACE VIEW stg_pruning_curves AS
SELECT *
FROM read_parquet('${tables}/pruning_curves/*/*.parquet', hive_partitioning = true, hive_types = {'run_id': VARCHAR}, union_by_name = true)
WHERE run_id <> '__empty__';
