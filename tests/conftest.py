"""Shared fixtures: a tiny trained synthetic run in a temporary warehouse, built once per session."""
import os

import pytest

os.environ.setdefault("NEURONINFO_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def tiny_spec():
    from pipeline.spec import NetworkSpec

    return NetworkSpec(dataset="synthetic-4", input_dim=64, n_classes=4, hidden_sizes=(24, 12),
                       regularizer="dropout", dropout=0.1, epochs=2, n_val=1000)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_spec):
    """(warehouse, run_id) of a trained, captured synthetic-4 network."""
    from flows.stages import capture_run, train_run
    from store.paths import open_warehouse

    wh = open_warehouse(tmp_path_factory.mktemp("warehouse"))
    run_id = train_run(wh, tiny_spec, progress=False)
    capture_run(wh, run_id, bits=(1, 2, 3))
    return wh, run_id


@pytest.fixture(scope="session")
def analysed_seeds(tiny_spec):
    """A function: train, capture, measure, estimate and ablate ``tiny_spec`` at seeds 0 and 1 in a warehouse;
    return the run_ids."""
    from dataclasses import replace

    from flows.stages import ablate_run, capture_run, estimate_run, measure_run, train_run

    def analyse(wh, bits: tuple[int, ...], **ablate_options) -> list[str]:
        run_ids = []
        for seed in (0, 1):
            run_id = train_run(wh, replace(tiny_spec, seed=seed), progress=False)
            capture_run(wh, run_id, bits=bits)
            measure_run(wh, run_id, refresh=False)
            estimate_run(wh, run_id)
            ablate_run(wh, run_id, **ablate_options)
            run_ids.append(run_id)
        return run_ids

    return analyse


@pytest.fixture(scope="module")
def base(tmp_path_factory, analysed_seeds):
    """(root, run_ids) of a warehouse with two complete tiny runs (measured, estimated and ablated at bits 1-2),
    built once per test module that asks; its tests change copies of it (``warehouse``)."""
    from store.paths import open_warehouse

    wh = open_warehouse(tmp_path_factory.mktemp("analysed_base"))
    return wh.root, analysed_seeds(wh, bits=(1, 2), random_repeats=1, steps=4)


@pytest.fixture
def warehouse(base, tmp_path):
    """(warehouse, run_ids): a private copy of ``base``, opened as a verb would (its catalog rebuilt)."""
    from warehouses import copied_warehouse

    root, run_ids = base
    return copied_warehouse(root, tmp_path), run_ids


@pytest.fixture
def run_verb(capsys):
    """A function: the CLI's ``main`` on these arguments in this process; returns (exit status, stdout, stderr)
    (the same lines as the command, without a subprocess's imports; the environment is restored after)."""
    from flows.cli import main

    def run(*args):
        environ = dict(os.environ)
        capsys.readouterr()
        try:
            code = main(list(args))
        finally:
            os.environ.clear()
            os.environ.update(environ)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory):
    """Environment for Prefect subprocesses: a private PREFECT_HOME, no telemetry."""
    home = tmp_path_factory.mktemp("prefect_home")
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90", PREFECT_RUNNER_POLL_FREQUENCY="1",
               NEURONINFO_OFFLINE="1")
    env.pop("PREFECT_API_URL", None)
    return env


@pytest.fixture(scope="session")
def prefect_server(prefect_env):
    """One real Prefect server for this test process's CLI flows: {PREFECT_HOME, PREFECT_API_URL} to add to a
    subprocess's environment, so that the CLI uses it instead of starting its own (10-25 s each). Tests of the
    CLI's own server (the README as written, a server that dies) do not use it."""
    from flows.serve_local import free_port, start_server, stop

    # the server's database lives in PREFECT_HOME: a private one, or both test processes' servers (and any earlier
    # session's) would share ~/.prefect's deployments, and a served deployment would run with another's parameters
    os.environ["PREFECT_HOME"] = prefect_env["PREFECT_HOME"]
    server, api_url = start_server(free_port(4317))
    yield {"PREFECT_HOME": prefect_env["PREFECT_HOME"], "PREFECT_API_URL": api_url}
    stop(server)


# The slowest files first: pytest-xdist's loadfile hands files out in collection order when told
# --no-loadscope-reorder (the Makefile does; by default it sorts them by their number of tests), so a long
# file collected last would run alone at the end while the other worker idles.
SLOW_FILES_FIRST = ("test_flows.py", "test_s3.py", "test_replicate.py", "test_paper.py", "test_trust.py", "test_first_hour.py",
                    "test_real_data.py", "test_import.py", "test_object_store.py", "test_registry.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return SLOW_FILES_FIRST.index(name) if name in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

    items.sort(key=rank)  # stable: each file's tests keep their order
