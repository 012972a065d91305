"""Batch throughput: the same generated frames through (a) the in-process runner, (b) one Celery
worker process, (c) two worker processes, on this machine's PostgreSQL/PostGIS and Redis.

Frames are SIMULATED 1920x1080 street scenes (``pipeline.simulate``). Each way gets its own fresh
database; worker start-up (loading torch and the model) is excluded by waiting for the workers to
report ready before the batch is submitted. Prints images/s for each way, the ratios, and the peak
resident memory (VmHWM) of every worker process.

    python benchmarks/batch.py [--frames 200] [--chunk-size 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from db import batches as batch_queries
from db.engine import create_engine, transaction
from pipeline import database as dbm
from pipeline.batches import ingest_files, submit
from pipeline.detection import load_detector
from pipeline.ingest import IngestOptions, discover
from pipeline.queue import WORKER_QUEUES, client, send_chunk

ADMIN_URL = os.environ.get("WASTEMAP_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BROKER = os.environ.get("WASTEMAP_BENCH_BROKER", "redis://127.0.0.1:6379/9")


def fresh_database() -> str:
    name = f"wastemap_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{ADMIN_URL}/{name}"
    dbm.upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(f"{ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def peak_rss_mb(pgid: int) -> dict[int, float]:
    """VmHWM of every process in a process group, in MB."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[int(entry.name)] = int(line.split()[1]) / 1024
        except (OSError, ProcessLookupError):
            continue
    return out


def in_process(files: list[Path], threads: int, chunk_size: int) -> float:
    url = fresh_database()
    try:
        engine = create_engine(url)
        detector = load_detector(None, num_threads=threads)
        t0 = time.perf_counter()
        report = ingest_files(
            files,
            engine=engine,
            survey="bench",
            options=IngestOptions(),
            detector=detector,
            chunk_size=chunk_size,
        )
        elapsed = time.perf_counter() - t0
        engine.dispose()
        assert report.ingested == len(files), report.to_json()
        return elapsed
    finally:
        drop_database(url)


def with_workers(
    files: list[Path], processes: int, threads: int, chunk_size: int, logdir: Path
) -> tuple[float, dict[str, float]]:
    url = fresh_database()
    redis.Redis.from_url(BROKER).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASTEMAP_")}
    env.update(
        WASTEMAP_DATABASE_URL=url,
        WASTEMAP_BROKER_URL=BROKER,
        WASTEMAP_NUM_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    celery = str(Path(sys.executable).parent / "celery")
    procs = []
    try:
        for i in range(processes):
            log = (logdir / f"w{processes}-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        celery,
                        "-A",
                        "workers.app",
                        "worker",
                        "-c",
                        "1",
                        "-Q",
                        WORKER_QUEUES,
                        "--prefetch-multiplier",
                        "1",
                        "-O",
                        "fair",
                        "--without-gossip",
                        "--without-mingle",
                        "-n",
                        f"bench{i}@%h",
                        "--loglevel",
                        "info",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not all(
            b"ready." in (logdir / f"w{processes}-{i}.log").read_bytes() for i in range(processes)
        ):
            time.sleep(0.5)
        engine = create_engine(url)
        t0 = time.perf_counter()
        batch_id = submit(
            engine, files=files, survey="bench", source="bench", chunk_size=chunk_size
        )
        with transaction(engine) as session:
            chunks = batch_queries.chunk_numbers(db_session=session, batch_id=batch_id)
        sender = client(BROKER)
        for chunk in chunks:
            send_chunk(sender, batch_id, chunk)
        while True:
            with transaction(engine) as session:
                counts = batch_queries.progress(db_session=session, batch_id=batch_id)
            if counts["pending"] == 0:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        engine.dispose()
        assert counts["stored"] == len(files), counts
        memory = {}
        for i, proc in enumerate(procs):
            for pid, mb in peak_rss_mb(proc.pid).items():
                memory[f"worker{i}:{'main' if pid == proc.pid else 'pool'}:{pid}"] = round(mb)
        return elapsed, memory
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from pipeline.simulate import build_sample_survey

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="wastemap-batch-") as tmp:
        survey = build_sample_survey(
            Path(tmp) / "survey", frames=args.frames, size=(1920, 1080), spacing_m=5.0
        )
        files, _ = discover(survey.images_dir)
        a = in_process(files, threads=cores, chunk_size=args.chunk_size)
        b, mem_b = with_workers(files, 1, cores, args.chunk_size, Path(tmp))
        c, mem_c = with_workers(files, 2, max(cores // 2, 1), args.chunk_size, Path(tmp))
    n = len(files)
    result = {
        "frames": n,
        "size": "1920x1080",
        "cores": cores,
        "in_process_images_per_s": round(n / a, 2),
        "one_worker_images_per_s": round(n / b, 2),
        "two_workers_images_per_s": round(n / c, 2),
        "ratio_one_worker_vs_in_process": round(a / b, 2),
        "ratio_two_workers_vs_one": round(b / c, 2),
        "ratio_two_workers_vs_in_process": round(a / c, 2),
        "peak_rss_mb_one_worker": mem_b,
        "peak_rss_mb_two_workers": mem_c,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{n} SIMULATED 1920x1080 frames, {cores} cores, chunks of {args.chunk_size}")
    print(f"  (a) in-process ({cores} torch threads):      {n / a:6.2f} images/s")
    print(f"  (b) one worker process ({cores} threads):    {n / b:6.2f} images/s")
    print(f"  (c) two worker processes ({max(cores // 2, 1)} thread each): {n / c:6.2f} images/s")
    print(f"  ratios: b/a {a / b:.2f}x, c/b {b / c:.2f}x, c/a {a / c:.2f}x")
    print(f"  peak memory per worker process (MB): one worker {mem_b}; two workers {mem_c}")


if __name__ == "__main__":
    main()
