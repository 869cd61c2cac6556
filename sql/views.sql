-- Public views (DESIGN "Public SQL views"): the interface users' queries depend on.
-- Re-created idempotently from the staging views; measures are in bits (log base 2).

-- runs: one row per trained, pruned or imported network.
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
    provenance,      -- JSON: package versions (neuroninfo, torch, numpy, duckdb, zarr, pyarrow, prefect) and git commit; NULL for older runs
    coalesce(origin, 'trained') AS origin,  -- 'trained' | 'pruned' | 'imported' (rows older than the column: 'trained')
    parent_run_id,   -- pruned runs: the run they were cut from; NULL otherwise
    pruned_by,       -- pruned runs: criterion@bits/scope/strategy/ft<epochs>; NULL otherwise
    kept_fraction,   -- pruned runs: hidden neurons kept / the parent's; NULL otherwise
    coalesce(n_params,  -- weights and biases (+ 2 per neuron with batch norm); computed from the sizes for older rows
        list_sum(list_transform(range(1, len(hidden_sizes) + 2),
            lambda i: ([input_dim] || hidden_sizes || [n_classes])[i] * ([input_dim] || hidden_sizes || [n_classes])[i + 1]
                      + ([input_dim] || hidden_sizes || [n_classes])[i + 1]))
        + CASE WHEN regularizer = 'dropout_bn' THEN 2 * list_sum(hidden_sizes) ELSE 0 END)::BIGINT AS n_params
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

-- ablation_orderings: the random orderings ablation used, position by position (reports read them back).
CREATE OR REPLACE VIEW ablation_orderings AS
SELECT
    run_id,
    scope,         -- 'layer' | 'network'
    layer,         -- NULL for scope 'network'
    repeat,        -- the ordering's seed
    position,      -- 0-based place in the ordering
    neuron_layer,  -- the neuron's hidden layer
    neuron         -- the neuron's index within its layer
FROM stg_ablation_orderings;

-- neuron_pairs: one row per pair of neurons (i < j) and bits: what they carry about the class together.
-- Definitions in docs/measures-pairs.md; the four atoms of each redundancy add up to joint_mi.
CREATE OR REPLACE VIEW neuron_pairs AS
SELECT
    run_id, bits,
    layer_i, neuron_i,   -- first neuron: (layer_i, neuron_i) < (layer_j, neuron_j)
    layer_j, neuron_j,   -- second neuron (another layer only for pairs computed --across-layers)
    mutual_info_i,       -- I(Ti;Y)
    mutual_info_j,       -- I(Tj;Y)
    joint_mi,            -- I(Ti,Tj;Y)
    pair_mi,             -- I(Ti;Tj), label-free
    red_mmi,             -- minimum-mutual-information redundancy min(I(Ti;Y), I(Tj;Y))
    red_min,             -- Williams-Beer I_min: sum_y p(y) min(I_spec(Ti;y), I_spec(Tj;y))
    unique_i_min, unique_j_min, synergy_min,  -- atoms with red_min: I(Ti;Y) - red_min, ..., joint_mi - I(Ti;Y) - I(Tj;Y) + red_min
    unique_i_mmi, unique_j_mmi, synergy_mmi,  -- the same with red_mmi
    co_info              -- I(Ti;Y) + I(Tj;Y) - I(Ti,Tj;Y) (> 0: redundancy dominates)
FROM stg_neuron_pairs;

-- neuron_redundancy: per neuron and bits, aggregates over its partners in the same layer (neuron_pairs).
CREATE OR REPLACE VIEW neuron_redundancy AS
SELECT
    run_id, layer, neuron, bits,
    mutual_info,         -- I(Ti;Y)
    n_partners,          -- partners in the computed pairs (layer size - 1, unless restricted by --top)
    max_red_min,         -- max_j red_min(i, j)
    max_red_partner,     -- that partner j (smallest index among ties)
    unique_min,          -- I(Ti;Y) - max_red_min: what no single other neuron duplicates
    mean_synergy_min,    -- mean_j synergy_min(i, j)
    max_synergy_min      -- max_j synergy_min(i, j)
FROM stg_neuron_redundancy;

-- neuron_baselines: one row per (run, layer, neuron) with the usual pruning criteria (docs/baselines.md).
CREATE OR REPLACE VIEW neuron_baselines AS
SELECT
    run_id, layer, neuron,
    weight_l1_in,          -- L1 norm of the incoming weights, batch norm folded
    weight_l2_in,          -- L2 norm of the incoming weights, batch norm folded
    weight_l1_out,         -- L1 norm of the outgoing weights
    torch_pruning_magnitude, -- Torch-Pruning's default GroupMagnitudeImportance() (relative to the layer); NULL without it
    act_mean,              -- mean raw validation output
    act_var,               -- its population variance
    act_abs_mean,          -- mean absolute raw validation output
    taylor,                -- mean over validation samples of |a * dL/da| (Molchanov et al. 2017)
    conductance,           -- mean |Captum layer conductance| for the true class, baseline input zeros; NULL without captum
    ablation_damage,       -- test-error increase from ablating this neuron alone (to 0): ground truth, not a criterion
    ablation_damage_mean   -- the same, ablating to the training-set mean
FROM stg_neuron_baselines;

-- pruning_curves: test error of a run physically pruned by a criterion (prune-sweep), without and with fine-tuning.
CREATE OR REPLACE VIEW pruning_curves AS
SELECT
    run_id,            -- the run that was pruned (the pruned networks themselves are not registered)
    measure,           -- criterion: an information measure, a neuron_baselines criterion, or 'random'
    bits,              -- quantizer bits of an information measure; NULL otherwise
    scope,             -- 'network' | 'layer'
    strategy,          -- 'zero' | 'mean' (bias balancing)
    finetune_epochs,   -- epochs of fine-tuning after pruning (0: none)
    keep,              -- requested kept fraction
    kept_fraction,     -- hidden neurons kept / the run's hidden neurons
    hidden_sizes,      -- widths of the pruned network
    n_params,          -- its weights and biases
    val_error, test_error,
    note               -- where a layer's one-neuron minimum bound
FROM stg_pruning_curves;

-- criterion_damage: how well each criterion predicts the ground truth, per run and scope: the Spearman
-- correlation (average ranks for ties) between a criterion and a neuron's single-neuron ablation damage.
-- Information measures at every stored bits; baselines with bits NULL. A criterion that ranks important
-- neurons high correlates positively.
CREATE OR REPLACE VIEW criterion_damage AS
WITH baseline_values AS (
    UNPIVOT (SELECT run_id, layer, neuron, weight_l1_in, weight_l2_in, weight_l1_out, torch_pruning_magnitude,
                    act_mean, act_var, act_abs_mean, taylor, conductance FROM neuron_baselines)
    ON weight_l1_in, weight_l2_in, weight_l1_out, torch_pruning_magnitude, act_mean, act_var, act_abs_mean, taylor, conductance
    INTO NAME measure VALUE value
),
measure_values AS (
    UNPIVOT (SELECT run_id, layer, neuron, bits, entropy, mutual_info, kl_selectivity, labeled_mi,
                    js_subset_separation, class_selectivity FROM neuron_stats)
    ON entropy, mutual_info, kl_selectivity, labeled_mi, js_subset_separation, class_selectivity
    INTO NAME measure VALUE value
),
criteria AS (
    SELECT run_id, layer, neuron, CAST(NULL AS INTEGER) AS bits, measure, value FROM baseline_values
    UNION ALL
    SELECT run_id, layer, neuron, bits, measure, value FROM measure_values
),
with_damage AS (
    SELECT c.*, d.ablation_damage, d.ablation_damage_mean
    FROM criteria AS c JOIN neuron_baselines AS d USING (run_id, layer, neuron)
),
scoped AS (
    SELECT 'layer' AS scope, * FROM with_damage
    UNION ALL
    SELECT 'network' AS scope, * REPLACE (CAST(NULL AS INTEGER) AS layer) FROM with_damage
),
ranked AS (
    SELECT scope, run_id, layer, measure, bits,
        -- average ranks (ties share the mean of their positions)
        rank() OVER w_value + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, value) - 1) / 2.0 AS r_value,
        rank() OVER w_zero + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, ablation_damage) - 1) / 2.0 AS r_zero,
        rank() OVER w_mean + (count(*) OVER (PARTITION BY scope, run_id, layer, measure, bits, ablation_damage_mean) - 1) / 2.0 AS r_mean
    FROM scoped
    WINDOW w_value AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY value),
           w_zero AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY ablation_damage),
           w_mean AS (PARTITION BY scope, run_id, layer, measure, bits ORDER BY ablation_damage_mean)
)
SELECT
    run_id,
    scope,                                   -- 'layer' | 'network' (all hidden neurons together)
    layer,                                   -- NULL for scope 'network'
    measure,                                 -- information measure or baseline criterion
    bits,                                    -- quantizer bits of an information measure; NULL otherwise
    count(*) AS n_neurons,
    corr(r_value, r_zero) AS spearman_damage,       -- with the damage of ablating the neuron alone to 0
    corr(r_value, r_mean) AS spearman_damage_mean   -- with the damage of ablating it alone to its training mean
FROM ranked
GROUP BY ALL;

-- pruning_summary: pruning_curves of trained runs averaged over the seeds of each group.
CREATE OR REPLACE VIEW pruning_summary AS
SELECT
    r.group_name,          -- runs that differ only by seed
    p.measure, p.bits, p.scope, p.strategy, p.finetune_epochs, p.keep,
    count(*) AS n_runs,    -- seeds averaged
    avg(p.kept_fraction) AS kept_fraction,
    avg(p.n_params) AS n_params,
    avg(p.test_error) AS error_mean,  -- test error of the pruned networks, mean over seeds
    min(p.test_error) AS error_min,
    max(p.test_error) AS error_max,
    avg(r.test_error) AS unpruned_error  -- the same runs unpruned
FROM pruning_curves AS p JOIN runs AS r USING (run_id)
WHERE r.origin = 'trained'
GROUP BY ALL;
