-- imports: where an imported run came from (one row per original file; the checkpoint itself is public-format).
SELECT
    run_id,
    original_name, original_sha256, original_bytes,
    form,          -- 'public' | '<safetensors|torch>/<sequential|modulelist|fc|public>'
    spec_source,   -- metadata, sidecar, folder, options ('+'-joined)
    unstated,      -- hyper-parameters no source stated (NULL in runs)
    imported_at
FROM stg_imports
