"""Every per-neuron criterion neuroninfo ranks, ablates, reports and prunes by: the one list to extend.

The SQL model that unpivots them (``sql/views/measure_values.sql``, which the rankings and the report
read) receives these names as template parameters (``sql_columns``), so a new criterion is a column in
its view's contract plus a name here (docs/architecture.md).
"""

# neuron_stats, one value per quantizer resolution (bits)
QUANTIZED = ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation")
# neuron_stats, independent of the quantizer (ranked once, bits NULL)
UNQUANTIZED = ("class_selectivity",)
# neuron_redundancy (pairs), one value per bits; ranked when the pairs cover every neuron
PAIR_AGGREGATES = ("unique_min", "max_red_min", "mean_synergy_min", "max_synergy_min")
# the information measures ranked and ablated by default
MEASURES = QUANTIZED + UNQUANTIZED + PAIR_AGGREGATES
# neuron_baselines: the usual pruning criteria (ablation_damage is the target they predict: never one)
BASELINES = ("weight_l1_in", "weight_l2_in", "weight_l1_out", "torch_pruning_magnitude", "act_mean", "act_var",
             "act_abs_mean", "taylor", "conductance")
CRITERIA = MEASURES + BASELINES


def sql_columns(names: tuple[str, ...]) -> str:
    """``names`` as a SQL column list, e.g. for ``UNPIVOT ... ON ${quantized}``."""
    return ", ".join(names)


def sql_parameters() -> dict[str, str]:
    """The template parameters of the SQL models that list criteria."""
    return {"quantized": sql_columns(QUANTIZED), "unquantized": sql_columns(UNQUANTIZED),
            "pair_aggregates": sql_columns(PAIR_AGGREGATES), "baselines": sql_columns(BASELINES)}
