"""compose.yaml: PostgreSQL, two API instances and a worker on one DATABASE_URL.

No Docker engine runs where the tests run, so this checks the file's YAML and keys
(the Compose specification's names) and that its commands are billgraph's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from billgraph.cli import COMMANDS

ROOT = Path(__file__).parents[1]
SERVICE_KEYS = {"image", "build", "command", "environment", "ports", "volumes", "depends_on",
                "healthcheck", "restart"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period"}


def compose() -> dict[str, Any]:
    # safe_load resolves the << merges
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_services_and_keys() -> None:
    spec = compose()
    assert set(spec) <= {"name", "services", "volumes", "x-billgraph"}
    services = spec["services"]
    assert set(services) == {"postgres", "api1", "api2", "worker"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert set(service["healthcheck"]) <= HEALTHCHECK_KEYS
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    for volume in services["postgres"]["volumes"]:
        assert volume.split(":")[0] in spec["volumes"]


def test_billgraph_services_share_one_database() -> None:
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    url = (f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
           f"@postgres:5432/{postgres['POSTGRES_DB']}")
    commands = {}
    for name in ("api1", "api2", "worker"):
        service = services[name]
        assert service["environment"]["DATABASE_URL"] == url
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["build"] == "." and (ROOT / "Dockerfile").exists()
        program, command = service["command"]
        assert program == "billgraph" and command in COMMANDS
        commands[name] = command
    assert commands == {"api1": "serve", "api2": "serve", "worker": "worker"}
    ports = [services[n]["ports"][0] for n in ("api1", "api2")]
    assert len(set(ports)) == 2 and all(p.endswith(":8000") for p in ports)
    for name in ("api1", "api2"):
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
