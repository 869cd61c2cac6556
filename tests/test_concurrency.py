"""Two measure runs for different run_ids at once, with a reader querying meanwhile: all succeed."""
import subprocess
import sys
from dataclasses import replace

from flows.stages import capture_run, train_run
from store.sandbox import query


def test_two_measures_and_a_reader_at_once(tmp_path, tiny_spec):
    from store.paths import open_warehouse

    wh = open_warehouse(tmp_path)
    run_ids = [train_run(wh, replace(tiny_spec, seed=seed), progress=False) for seed in (3, 4)]
    for run_id in run_ids:
        capture_run(wh, run_id, bits=(1, 2, 3))
    cli = [sys.executable, "-m", "flows.cli"]
    writers = [subprocess.Popen([*cli, "measure", run_id, "--warehouse", str(wh.root)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for run_id in run_ids]
    readers = []
    while any(w.poll() is None for w in writers) or not readers:
        readers.append(subprocess.run([*cli, "sql", "SELECT count(*) AS n FROM neuron_stats", "--warehouse", str(wh.root),
                                       "--format", "csv"], capture_output=True, text=True))
    for writer, run_id in zip(writers, run_ids):
        out, err = writer.communicate()
        assert writer.returncode == 0, err
        assert out.strip().splitlines()[-1] == run_id
    for reader in readers:
        assert reader.returncode == 0, reader.stderr
        assert int(reader.stdout.split()[-1]) in (0, 36 * 3, 2 * 36 * 3)  # whole runs only, never a part
    rows = query(wh, "SELECT run_id, count(*) AS n FROM neuron_stats GROUP BY run_id").to_pylist()
    assert {r["run_id"]: r["n"] for r in rows} == {run_id: (24 + 12) * 3 for run_id in run_ids}
    # the file catalog was refreshed by both writers and opens for a user's own DuckDB session
    import duckdb
    con = duckdb.connect(str(wh.catalog), read_only=True)
    assert con.sql("SELECT count(DISTINCT run_id) FROM neuron_stats").fetchall() == [(2,)]
    con.close()
