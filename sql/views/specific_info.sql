-- specific_info: the spectrum D(P(T|Y=y) || P(T)) behind kl_selectivity.
SELECT
    run_id, layer, neuron, bits,
    class,          -- the class y
    specific_info   -- D(P(T|Y=y) || P(T)), bits
FROM stg_specific_info
