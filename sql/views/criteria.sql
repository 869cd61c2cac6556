-- criteria: every criterion neurons can be ranked, ablated and pruned by, one row each. The rows come from
-- the criterion registry (pipeline/criteria.py), the one declaration of each criterion.
SELECT
    measure,      -- the criterion's name, as the measure column of measure_values, ablation_curves, pruning_curves say
    kind,         -- information | pair_aggregate | baseline | random
    family,       -- information (measures and pair aggregates) | baseline | random: how reports group criteria
    source,       -- the view its values come from; NULL for random
    per_bits,     -- one value per quantizer bits (else bits is NULL)
    requires,     -- the verb that must have run first: measure | pairs | baselines
    expression,   -- the SQL over the source view's columns that gives the value
    estimators,   -- the estimators its values come in (measure_values.estimator): plugin, and for the information
                  -- measures of neuron_stats the corrected ones of measure_estimates
    meaning,      -- what the value is
    position      -- declaration order (reports order criteria by it)
FROM (VALUES
    ${criterion_rows}
) AS registry(measure, kind, family, source, per_bits, requires, expression, estimators, meaning, position)
