"""Arrow schemas of the warehouse tables (DESIGN "Public SQL views").

``run_id`` is not stored in the files: it is the hive partition key (``run_id=<id>/``).
"""
import pyarrow as pa

SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema([
        ("name", pa.string()),
        ("group_name", pa.string()),  # the name without the seed: runs of a group differ only by seed
        ("dataset", pa.string()),
        ("input_dim", pa.int32()),
        ("n_classes", pa.int32()),
        ("hidden_sizes", pa.list_(pa.int32())),
        ("activation", pa.string()),
        ("regularizer", pa.string()),
        ("weight_decay", pa.float64()),
        ("dropout", pa.float64()),
        ("seed", pa.int64()),
        ("epochs", pa.int32()),
        ("lr", pa.float64()),
        ("n_train", pa.int64()),
        ("n_val", pa.int64()),
        ("n_test", pa.int64()),
        ("val_error", pa.float64()),
        ("test_error", pa.float64()),
        ("spec", pa.string()),  # the checkpoint's spec JSON
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("provenance", pa.string()),  # JSON: versions of neuroninfo, torch, numpy, duckdb, zarr, pyarrow, prefect; git commit
        ("origin", pa.string()),  # 'trained' | 'pruned' | 'imported' (NULL in partitions written before it existed)
        ("parent_run_id", pa.string()),  # the run a pruned network was cut from
        ("pruned_by", pa.string()),  # e.g. 'mutual_info@1b/network/mean/ft1'
        ("kept_fraction", pa.float64()),  # hidden neurons kept / the parent's hidden neurons
        ("n_params", pa.int64()),  # weights and biases (batch norm affine parameters included)
    ]),
    "quantizers": pa.schema([
        ("layer", pa.int32()),
        ("bits", pa.int32()),
        ("method", pa.string()),
        ("thresholds", pa.list_(pa.float64())),
    ]),
}

SCHEMAS.update({
    "counts": pa.schema([
        ("split", pa.string()),
        ("layer", pa.int32()),
        ("bits", pa.int32()),
        ("neuron", pa.int32()),
        ("bin", pa.int32()),
        ("class", pa.int32()),
        ("n", pa.int64()),
    ]),
    "neuron_stats": pa.schema([
        ("layer", pa.int32()),
        ("neuron", pa.int32()),
        ("bits", pa.int32()),
        ("entropy", pa.float64()),
        ("mutual_info", pa.float64()),
        ("kl_selectivity", pa.float64()),
        ("kl_class", pa.int32()),
        ("js_subset_separation", pa.float64()),
        ("js_subset", pa.int64()),
        ("labeled_mi", pa.float64()),
        ("labeled_mi_class", pa.int32()),
        ("class_selectivity", pa.float64()),
        ("mean_train", pa.float64()),
        ("active_frac", pa.float64()),
    ]),
    "specific_info": pa.schema([
        ("layer", pa.int32()),
        ("neuron", pa.int32()),
        ("bits", pa.int32()),
        ("class", pa.int32()),
        ("specific_info", pa.float64()),
    ]),
    "ablation_curves": pa.schema([
        ("scope", pa.string()),
        ("layer", pa.int32()),  # NULL for scope 'network'
        ("measure", pa.string()),  # 'random' for random orderings
        ("bits", pa.int32()),  # NULL for random orderings
        ("ordering", pa.string()),
        ("strategy", pa.string()),
        ("repeat", pa.int32()),
        ("n_ablated", pa.int32()),
        ("frac_ablated", pa.float64()),
        ("test_error", pa.float64()),
    ]),
    "neuron_baselines": pa.schema([
        ("layer", pa.int32()),
        ("neuron", pa.int32()),
        ("weight_l1_in", pa.float64()),
        ("weight_l2_in", pa.float64()),
        ("weight_l1_out", pa.float64()),
        ("torch_pruning_magnitude", pa.float64()),  # NULL without the baselines extra (torch-pruning)
        ("act_mean", pa.float64()),
        ("act_var", pa.float64()),
        ("act_abs_mean", pa.float64()),
        ("taylor", pa.float64()),
        ("conductance", pa.float64()),  # NULL without the baselines extra (captum)
        ("ablation_damage", pa.float64()),
        ("ablation_damage_mean", pa.float64()),
    ]),
    "pruning_curves": pa.schema([
        ("measure", pa.string()),  # the pruning criterion; 'random' ranks by a seed-0 permutation
        ("bits", pa.int32()),  # quantizer bits of an information measure; NULL otherwise
        ("scope", pa.string()),  # 'network' (one ranking over all hidden neurons) | 'layer'
        ("strategy", pa.string()),  # 'zero' | 'mean' (pruned outputs folded into the next bias)
        ("finetune_epochs", pa.int32()),
        ("keep", pa.float64()),  # requested kept fraction
        ("kept_fraction", pa.float64()),  # hidden neurons kept / hidden neurons of the run
        ("hidden_sizes", pa.list_(pa.int32())),  # of the pruned network
        ("n_params", pa.int64()),
        ("val_error", pa.float64()),
        ("test_error", pa.float64()),
        ("note", pa.string()),  # where a layer's one-neuron minimum bound; NULL otherwise
    ]),
})
