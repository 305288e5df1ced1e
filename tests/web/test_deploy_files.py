"""The container files agree with each other and with the app: compose.yaml parses, runs N app servers on
PostgreSQL with pgvector behind the proxy, checks each server's health at /api/v1/health (a path the app answers
without a key), and the Dockerfile prepares the networks with functions that exist. (No container engine runs
here: docs/deploy.md says so.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_app_servers_on_pgvector_behind_the_proxy():
    services = compose()["services"]
    assert set(services) == {"db", "app", "proxy"}
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    app = services["app"]
    assert app["build"] == "." and app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["deploy"]["replicas"] == "${FACEPRINT_REPLICAS:-2}"
    environment = app["environment"]
    assert environment["FACEPRINT_GALLERY"].startswith("postgresql://faceprint@db:5432/")
    for required in ("FACEPRINT_ADMIN_KEY", "FACEPRINT_RECOGNIZE_KEY", "FACEPRINT_SECRET_KEY", "PGPASSWORD"):
        assert ":?" in environment[required], required  # compose refuses to start without them
    assert "127.0.0.1" in environment["FACEPRINT_ALLOWED_HOSTS"]  # the container's own health check
    assert "/api/v1/health" in " ".join(app["healthcheck"]["test"])
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]


def test_the_proxy_finds_every_app_server_on_the_port_it_serves():
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    name, port = re.search(r"dynamic a (\w+) (\d+)", caddyfile).groups()
    command = compose()["services"][name]["command"]
    assert command[:2] == ["faceprint", "serve"] and command[command.index("--port") + 1] == port
    assert command[command.index("--host") + 1] == "0.0.0.0"
    health = compose()["services"][name]["healthcheck"]["test"][-1]
    assert f"127.0.0.1:{port}/api/v1/health" in health


def test_the_health_check_needs_no_key_and_no_model(make_app):
    app = make_app(FACEPRINT_ADMIN_KEY="a" * 32, FACEPRINT_RECOGNIZE_KEY="r" * 32)
    response = app.test_client().get("/api/v1/health", headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_the_image_prepares_the_networks_with_the_app_warm_up():
    dockerfile = (ROOT / "Dockerfile").read_text()
    snippet = re.search(r'python -c "(from faceprint[^"]+)"', dockerfile).group(1)
    tree = ast.parse(snippet)
    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("faceprint.web.app", "warm_up") in imported and ("faceprint", "FaceRecognizer") in imported
    from faceprint.web.app import warm_up

    assert callable(warm_up)
    assert "FACEPRINT_CACHE_DIR=/opt/faceprint/cache" in dockerfile
    assert "chown -R faceprint:faceprint /opt/faceprint" in dockerfile  # ONNX Runtime may re-optimise per CPU
    assert re.search(r'CMD \["faceprint", "serve", "--host", "0.0.0.0", "--port", "8000"', dockerfile)


def test_the_image_carries_the_prepared_networks_but_not_the_converter():
    from faceprint.onnx_engine import OPSET

    dockerfile = (ROOT / "Dockerfile").read_text()
    prepare, runtime = dockerfile.split("\nFROM ")[1:]
    assert "pip install '.[convert]' && faceprint models prepare" in prepare
    assert "RUN pip install . " in runtime and "[convert]" not in runtime and "tensorflow" not in runtime.lower()
    copied = re.search(r"COPY --from=prepare /opt/faceprint/cache/onnx/(\S+) /opt/faceprint/cache/onnx/", runtime)
    assert copied and copied.group(1) == f"*-opset{OPSET}.onnx"
