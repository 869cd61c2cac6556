"""Real Fashion-MNIST: property checks on the measures, and the README's SQL examples run as written."""
import re
from pathlib import Path

import pytest

from flows.stages import ablate_run, capture_run, estimate_run, measure_run, pairs_run, train_run
from pipeline.spec import preset_spec
from store.paths import open_warehouse
from store.sandbox import query

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(),
                       reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"),
]
README = Path(__file__).resolve().parent.parent / "README.md"
EPS = 1e-9


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory):
    """Two real Fashion-MNIST networks (ReLU + dropout, sigmoid + batch norm), captured, measured, estimated, pairs
    at 1 bit, and ablated (on a coarse k-grid)."""
    wh = open_warehouse(tmp_path_factory.mktemp("fashion"))
    for activation, regularizer in (("relu", "dropout"), ("sigmoid", "dropout_bn")):
        spec = preset_spec("fashion-mnist", 784, 10, activation=activation, regularizer=regularizer, epochs=1)
        run_id = train_run(wh, spec, progress=False)
        capture_run(wh, run_id, bits=(1, 2, 3))
        measure_run(wh, run_id, refresh=False)
        estimate_run(wh, run_id)
        pairs_run(wh, run_id)
        ablate_run(wh, run_id, random_repeats=2, steps=5)
    return wh


def test_information_inequalities_hold(fashion_runs):
    [row] = query(fashion_runs, f"""
        SELECT count(*) AS n,
               count(*) FILTER (WHERE mutual_info > entropy + {EPS}) AS mi_above_entropy,
               count(*) FILTER (WHERE mutual_info > kl_selectivity + {EPS}) AS mi_above_kl,
               count(*) FILTER (WHERE labeled_mi > js_subset_separation + {EPS}) AS labeled_above_js,
               count(*) FILTER (WHERE js_subset_separation > mutual_info + {EPS}) AS js_above_mi,
               count(*) FILTER (WHERE least(entropy, mutual_info, kl_selectivity, labeled_mi, js_subset_separation) < -{EPS}) AS negative,
               count(*) FILTER (WHERE entropy > bits + {EPS}) AS entropy_above_bits,
               count(DISTINCT run_id) AS runs, count(DISTINCT bits) AS n_bits
        FROM neuron_stats""").to_pylist()
    assert row["n"] == 2 * 400 * 3 and row["runs"] == 2 and row["n_bits"] == 3
    for key in ("mi_above_entropy", "mi_above_kl", "labeled_above_js", "js_above_mi", "negative", "entropy_above_bits"):
        assert row[key] == 0, (key, row)
    [informative] = query(fashion_runs, "SELECT max(mutual_info) AS top FROM neuron_stats WHERE bits = 1").to_pylist()
    assert informative["top"] > 0.2  # trained neurons carry real class information


def test_pair_inequalities_hold(fashion_runs):
    """Data tests on neuron_pairs: 0 <= red_min <= red_mmi, I(Ti;Y) <= I(Ti,Tj;Y) <= H(Y), atoms add up."""
    [row] = query(fashion_runs, f"""
        SELECT count(*) AS n,
               count(*) FILTER (WHERE red_min < -{EPS} OR red_min > red_mmi + {EPS}) AS red_min_out_of_bounds,
               count(*) FILTER (WHERE joint_mi < greatest(mutual_info_i, mutual_info_j) - {EPS} OR joint_mi > log2(10) + {EPS}) AS joint_mi_out_of_bounds,
               count(*) FILTER (WHERE pair_mi < -{EPS} OR unique_i_min < -{EPS} OR unique_j_min < -{EPS}) AS negative,
               count(*) FILTER (WHERE abs(unique_i_min + unique_j_min + red_min + synergy_min - joint_mi) > 1e-12) AS atoms_off
        FROM neuron_pairs""").to_pylist()
    assert row["n"] == 2 * (300 * 299 // 2 + 100 * 99 // 2)
    for key in ("red_min_out_of_bounds", "joint_mi_out_of_bounds", "negative", "atoms_off"):
        assert row[key] == 0, (key, row)


def test_readme_queries_run_as_written(fashion_runs):
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    assert any("ablation_curves" in sql for sql in blocks)
    for sql in blocks:
        table = query(fashion_runs, sql)
        assert table.num_rows > 0, sql


def test_every_data_test_of_the_contracts_passes_on_a_real_warehouse(fashion_runs):
    from store.contract import run_data_tests
    from store.views import memory_connection

    con = memory_connection(fashion_runs)
    try:
        assert [f.line() for f in run_data_tests(con)] == []
    finally:
        con.close()
