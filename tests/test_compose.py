"""docker-compose.yml is valid and every service runs a command this project has.

Nothing can run containers on the build machine, so the file is validated with Debian's
docker-compose (``config -q``) and each service's command is resolved against the real CLI."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_config_is_valid() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed; `make test` installs it (apt docker-compose)")
    result = subprocess.run(
        [exe, "-f", "docker-compose.yml", "config", "-q"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_services_and_their_commands_exist(compose: dict) -> None:
    services = compose["services"]
    assert {"db", "redis", "migrate", "worker", "beat", "dashboard"} <= set(services)
    runner = CliRunner()
    for name, service in services.items():
        assert "healthcheck" in service or name in {"migrate", "beat"}, name
        command = service.get("command")
        if not command or command[0] != "wastemap":
            continue
        words = [w for w in command[1:] if not w.startswith("-")]
        subcommand = words[:2] if words[0] == "db" else words[:1]
        result = runner.invoke(app, [*subcommand, "--help"])
        assert result.exit_code == 0, (
            f"service {name}: `wastemap {' '.join(subcommand)}` does not exist: {result.output}"
        )
        # every option the service passes is an option of that command
        for option in (w for w in command[1:] if w.startswith("--")):
            assert option in result.output, f"service {name}: unknown option {option}"
    importlib.import_module("workers.app")  # the worker healthcheck's `celery -A workers.app`


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in ("pipeline", "dashboard", "db", "workers", "models", "analytics", "migrations"):
        assert f"COPY {package} {package}" in dockerfile
        assert (REPO / package / "__init__.py").exists()
    assert (REPO / ".env.example").exists()
