-- rankings: the orderings of one run by every criterion it has complete values for, as ablation and pruning
-- read them (the ordering rule is neuron_ranks). One row per (measure, bits, layer, neuron) with its position in
-- each ordering. A criterion at a bits value is ranked only when it has a value for every hidden neuron of the
-- run: pair aggregates of pairs computed with --top, or a criterion NULL for the run (conductance without
-- captum), are not. Parameters: ${run_id}; ${estimator}, the estimator of the values ranked (criteria whose values
-- do not come in it are left out).
WITH ranks AS (
    SELECT * FROM neuron_ranks WHERE run_id = '${run_id}' AND estimator = '${estimator}'
),
hidden_neurons AS (  -- the units of every captured layer (an mlp's hidden neurons)
    SELECT sum(units) AS n FROM layers WHERE run_id = '${run_id}'
),
complete AS (
    SELECT measure, bits FROM ranks
    GROUP BY measure, bits
    HAVING count(*) = (SELECT n FROM hidden_neurons)
)
SELECT r.measure, r.bits, r.layer, r.neuron, r.value,
    r.layer_low_first, r.layer_high_first, r.network_low_first, r.network_high_first
FROM ranks AS r JOIN complete AS c ON c.measure = r.measure AND c.bits IS NOT DISTINCT FROM r.bits
ORDER BY r.measure, r.bits, r.layer, r.neuron
