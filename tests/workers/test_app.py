"""The Celery app without a broker: settings read lazily, torch threads shared among the pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.workers.services import REPO
from workers import tasks
from workers.app import app, config_from_settings, create_app


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached settings, engine or detector, a pool of 1 (outside a worker) afterwards."""
    tasks.reset_process_state()
    yield
    tasks.reset_process_state()
    tasks.set_pool_processes(1)


@pytest.mark.parametrize(
    ("configured", "processes", "cores", "threads"),
    [
        (None, 1, 2, 2),  # one process: every core
        (None, 2, 2, 1),
        (None, 3, 2, 1),  # more processes than cores: still one thread each
        (None, 2, 16, 8),
        (None, 3, 16, 5),
        (4, 2, 16, 4),  # WASTEMAP_NUM_THREADS wins
        (None, 0, 4, 4),
    ],
)
def test_detector_threads_share_the_cores(configured, processes, cores, threads) -> None:
    assert (
        tasks.detector_threads(configured=configured, pool_processes=processes, cores=cores)
        == threads
    )


def test_detector_threads_default_to_this_process_cores() -> None:
    cores = tasks.available_cores()
    assert cores >= 1
    assert tasks.detector_threads(configured=None, pool_processes=1) == cores


@pytest.mark.parametrize(
    ("options", "processes"),
    [
        ({"concurrency": 3}, 3),
        ({"concurrency": 2, "autoscale": "4,1"}, 4),  # the most the pool may grow to
        ({"concurrency": 5, "pool": "solo"}, 1),  # tasks run in the worker's own process
    ],
)
def test_the_pool_size_is_recorded_before_the_pool_forks(fresh_process, options, processes):
    """The real worker blueprint (built, never started) tells workers.tasks its pool size."""
    tasks.set_pool_processes(99)
    app.WorkController(hostname="test@localhost", **{"pool": "prefork", **options})
    assert tasks._pool["processes"] == processes


def test_a_worker_process_loads_the_detector_with_its_share(fresh_process, monkeypatch):
    loads = []
    monkeypatch.setattr(
        tasks, "load_detector", lambda path, *, device, num_threads: loads.append(num_threads)
    )
    monkeypatch.setattr(tasks, "available_cores", lambda: 8)
    tasks.set_pool_processes(3)
    tasks._detector()
    monkeypatch.setenv("WASTEMAP_NUM_THREADS", "5")
    tasks.reset_process_state()
    tasks._detector()
    assert loads == [2, 5]


def test_settings_are_read_when_celery_needs_them_not_at_import() -> None:
    script = textwrap.dedent(
        """
        import os
        os.environ["WASTEMAP_TASK_SOFT_TIME_LIMIT_S"] = "-1"  # invalid: reading it would fail
        from workers import app as app_module, tasks
        os.environ["WASTEMAP_TASK_SOFT_TIME_LIMIT_S"] = "7"
        os.environ["WASTEMAP_BROKER_URL"] = "redis://127.0.0.1:6399/3"
        conf = app_module.app.conf
        print(conf.broker_url, conf.task_soft_time_limit)
        print(tasks.process_chunk.soft_time_limit, tasks.requeue_stale_chunks.soft_time_limit)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["redis://127.0.0.1:6399/3", "7", "7", "120"]


def test_the_configuration_comes_from_the_settings(monkeypatch) -> None:
    fresh = create_app()  # before the environment is set: nothing has been read yet
    monkeypatch.setenv("WASTEMAP_BROKER_URL", "redis://127.0.0.1:6399/1")
    monkeypatch.setenv("WASTEMAP_VISIBILITY_TIMEOUT_S", "99")
    monkeypatch.setenv("WASTEMAP_REQUEUE_AFTER_S", "30")
    monkeypatch.setenv("WASTEMAP_INBOX", "/srv/inbox")
    monkeypatch.setenv("WASTEMAP_INBOX_SCAN_SECONDS", "5")
    conf = fresh.conf
    assert conf.broker_url == conf.result_backend == "redis://127.0.0.1:6399/1"
    assert conf.broker_transport_options == {"visibility_timeout": 99}
    assert conf.task_soft_time_limit == 600
    assert {k: v["schedule"] for k, v in conf.beat_schedule.items()} == {
        "requeue-stale-chunks": 15.0,
        "scan-inbox": 5.0,
    }
    assert conf.task_acks_late and conf.worker_prefetch_multiplier == 1
    monkeypatch.delenv("WASTEMAP_INBOX")
    assert "scan-inbox" not in config_from_settings()["beat_schedule"]
