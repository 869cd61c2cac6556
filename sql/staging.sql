-- staging.stg_${table} (internal: its own schema, out of SHOW TABLES): every ${table} partition under tables/${table}/run_id=<id>/ that passed the cheap
-- integrity check (store.integrity; store.views passes their list), one row per stored row. One model for
-- every stored table: the contracts whose storage is not 'none'.
-- run_id comes from the hive partition directory; the zero-row '__empty__' partition only fixes the schema.
SELECT *
FROM read_parquet(${files}, hive_partitioning = true, hive_types = {'run_id': VARCHAR}, union_by_name = true)
WHERE run_id <> '__empty__'
