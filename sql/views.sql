-- Public views (DESIGN "Public SQL views"): the interface users' queries depend on.
-- Re-created idempotently from the staging views; measures are in bits (log base 2).

-- runs: one row per trained or imported network.
CREATE OR REPLACE VIEW runs AS
SELECT
    run_id,          -- first 16 hex digits of the SHA-256 of the checkpoint file
    name,            -- readable label: dataset-sizes-activation-regularizer-s<seed>
    group_name,      -- the name without the seed (runs of a group differ only by seed)
    dataset, input_dim, n_classes,
    hidden_sizes,    -- widths of the hidden layers 1..L
    activation,      -- 'relu' | 'sigmoid'
    regularizer,     -- 'none' | 'l2' | 'dropout' | 'dropout_bn'
    weight_decay, dropout, seed, epochs, lr,
    n_train, n_val, n_test,
    val_error, test_error,  -- fraction misclassified by the unablated network
    spec,            -- the checkpoint's spec JSON
    created_at,
    origin,          -- 'trained' | 'imported' (NULL for runs registered before it existed)
    provenance       -- JSON: package versions (neuroninfo, torch, numpy, duckdb, zarr, pyarrow, prefect) and git commit; NULL for older runs
FROM stg_runs;

-- quantizers: thresholds that map a neuron's output T to a bin (code = #thresholds below T).
CREATE OR REPLACE VIEW quantizers AS
SELECT run_id, layer, bits, method, thresholds FROM stg_quantizers;

-- counts: the contingency table n(bin, class) of each neuron on a split.
CREATE OR REPLACE VIEW counts AS
SELECT run_id, split, layer, bits, neuron, bin, class, n FROM stg_counts;

-- neuron_stats: one row per (run, layer, neuron, bits) with every information measure.
CREATE OR REPLACE VIEW neuron_stats AS
SELECT
    run_id, layer, neuron, bits,
    entropy,               -- H(T)
    mutual_info,           -- I(T;Y)
    kl_selectivity,        -- max_y D(P(T|y) || P(T))
    kl_class,              -- the argmax class of kl_selectivity
    js_subset_separation,  -- max over class subsets S of I(T; 1[Y in S])
    js_subset,             -- that S as a bitmask (the side without class K-1)
    labeled_mi,            -- max_y I(T; 1[Y=y])
    labeled_mi_class,      -- its argmax class
    class_selectivity,     -- Morcos et al. index from raw class-conditional means
    mean_train,            -- mean raw output on the training set
    active_frac            -- fraction of validation samples above the 1-bit threshold
FROM stg_neuron_stats;

-- specific_info: the spectrum D(P(T|Y=y) || P(T)) behind kl_selectivity.
CREATE OR REPLACE VIEW specific_info AS
SELECT run_id, layer, neuron, bits, class, specific_info FROM stg_specific_info;

-- ablation_curves: test error after cumulatively ablating the first n_ablated neurons of an ordering.
CREATE OR REPLACE VIEW ablation_curves AS
SELECT
    run_id,
    scope,         -- 'layer' (one hidden layer alone) | 'network' (all hidden neurons ranked together)
    layer,         -- NULL for scope 'network'
    measure,       -- the ranking measure; 'random' for random orderings
    bits,          -- quantizer bits of the measure; NULL for random orderings
    ordering,      -- 'low_first' | 'high_first' | 'random'
    strategy,      -- 'zero' | 'mean' (training-set mean)
    repeat,        -- random seed 0..R-1; 0 otherwise
    n_ablated, frac_ablated, test_error
FROM stg_ablation_curves;

-- imports: where an imported run came from (one row per original file; the checkpoint itself is public-format).
CREATE OR REPLACE VIEW imports AS
SELECT
    run_id,
    original_name, original_sha256, original_bytes,
    form,          -- 'public' | '<safetensors|torch>/<sequential|modulelist|fc|public>'
    spec_source,   -- metadata, sidecar, folder, options ('+'-joined)
    unstated,      -- hyper-parameters no source stated (NULL in runs)
    imported_at
FROM stg_imports;
