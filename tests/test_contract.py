"""The column contracts (sql/contracts/*.yml): the one source of the storage schemas, the column docs
and the data tests; the data tests catch a measure broken on purpose."""
from pathlib import Path


import pipeline.measures
from flows.stages import measure_run
from store.contract import contracts, markdown, run_data_tests
from store.schemas import SCHEMAS
from store.views import memory_connection

ROOT = Path(__file__).resolve().parent.parent


def test_docs_warehouse_md_is_generated_from_the_contracts():
    assert (ROOT / "docs" / "warehouse.md").read_text() == markdown(), \
        "docs/warehouse.md is stale: run .venv/bin/python -m store.contract > docs/warehouse.md"


def test_every_public_view_has_a_contract_matching_its_columns(trained_run):
    """Every view and table a connection lists (SHOW TABLES: the internal staging views are out of it) has
    a contract, and its columns are the contract's, in order."""
    wh, _ = trained_run
    con = memory_connection(wh)
    try:
        offered = [r[0] for r in con.sql("SHOW TABLES").fetchall()]
        assert len(offered) > 20  # the listing worked
        assert sorted(offered) == sorted(contracts()), "a view without a contract, or a contract without a view"
        for view in offered:
            described = con.sql(f"DESCRIBE {view}").fetchall()
            assert [(r[0], r[1]) for r in described] == [(c.name, c.type) for c in contracts()[view].columns], view
    finally:
        con.close()
    assert set(SCHEMAS) == {v for v, c in contracts().items() if c.stored}


def test_data_tests_pass_on_a_measured_run_and_catch_a_wrong_log_base(tmp_path, trained_run, monkeypatch, capsys):
    import shutil

    from store.lifecycle import prepare

    source, run_id = trained_run
    shutil.copytree(source.root, tmp_path / "wh")
    wh = prepare(tmp_path / "wh")
    measure_run(wh, run_id, force=True)
    con = memory_connection(wh)
    assert run_data_tests(con) == []
    con.close()

    original = pipeline.measures.sql_text
    monkeypatch.setattr(pipeline.measures, "sql_text",  # entropy and MI in nats: a broken measure, consistent in itself
                        lambda name, **p: original(name, **p).replace("log2(", "ln(") if name == "measures_entropy" else original(name, **p))
    measure_run(wh, run_id, force=True)
    con = memory_connection(wh)
    failures = run_data_tests(con)
    con.close()
    failed = {(f.view, f.test): f.run_ids for f in failures}
    assert failed[("neuron_stats", "entropy and mutual information agree with the counts (recomputed here, log base 2)")] == (run_id,)
    # nothing else is blamed, but neuron_pairs when another test of this session stored pairs on the run:
    # its own test checks each neuron's I(T;Y) against neuron_stats', which now disagree
    has_pairs = (wh.root / "tables" / "neuron_pairs" / f"run_id={run_id}").exists()
    assert {view for view, _ in failed} <= {"neuron_stats", "specific_info"} | ({"neuron_pairs"} if has_pairs else set())

    from flows.cli import main

    assert main(["verify", "--data-tests", "--warehouse", str(wh.root)]) == 3  # the files are whole; the numbers are not
    assert "data test failed: neuron_stats: entropy and mutual information agree with the counts" in capsys.readouterr().out
