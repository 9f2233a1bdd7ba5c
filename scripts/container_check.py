#!/usr/bin/env python3
"""Build the Dockerfile and run `billgraph serve` from the image, without a container engine.

    scripts/container_check.py [--keep-image] [--timeout SECONDS]

Debian's podman cannot start containers on these machines (setrlimit is refused), and
base images cannot be pulled, so this:

1. installs podman, buildah and debootstrap from Debian's packages (when missing);
2. builds a stand-in for the Dockerfile's BASE (python:3.12-slim) with debootstrap:
   Debian bookworm minbase + python3, python3-venv, python3-pip, from the Debian mirror
   this machine's apt uses; tagged localhost/billgraph-base:<recipe hash> and reused
   while it exists;
3. builds the Dockerfile on it (`podman build --isolation chroot`), passing this
   machine's pip index settings (pip config and PIP_*) as build arguments;
4. runs `billgraph serve` from the image as its non-root user (`buildah run
   --isolation chroot`: host network, so it listens on 127.0.0.1 only, on a free
   port), with the embedded PostgreSQL inside the container;
5. checks /healthz, /readyz, a query and a mutation with the key `serve` printed, and
   `billgraph backup` of the embedded database from a second process in the container;
6. stops it all and removes the container and the image (the base stays cached).

Stdlib only; every step is bounded in time. Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
BASE_PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]
BASE_REPO = "localhost/billgraph-base"
IMAGE = "localhost/billgraph:check"
TOOLS = {"podman": "podman", "buildah": "buildah", "debootstrap": "debootstrap"}
PIP_SETTINGS = ("index-url", "extra-index-url", "trusted-host", "default-timeout", "cert")
CERT_IN_BUILD = "/run/billgraph-pip-cert.pem"  # the host's CA bundle, mounted for RUN only

started = time.monotonic()


def say(message: str) -> None:
    print(f"[container-check {time.monotonic() - started:6.1f}s] {message}", flush=True)


def run(argv: list[str], *, timeout: float, capture: bool = False,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, check=True, text=True, timeout=timeout,
                              capture_output=capture, **kwargs)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or "").strip()[-2000:] if capture else ""
        raise SystemExit(f"container-check: `{' '.join(argv[:3])} ...` failed "
                         f"(exit {error.returncode}) {detail}") from None
    except subprocess.TimeoutExpired:
        raise SystemExit(f"container-check: `{' '.join(argv[:3])} ...` took more than "
                         f"{timeout:.0f} s") from None


def install_tools() -> None:
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    say(f"installing {' '.join(missing)} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], timeout=600, env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        timeout=1200, env=env)


def debian_mirror() -> str:
    """The first `deb` source of the host's apt for the main archive (not security)."""
    entries: list[tuple[str, list[str]]] = []  # (uri, suites)
    apt = Path("/etc/apt")
    legacy = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in legacy:
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    entries.append((parts[1], [parts[2]]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split()))
    for uri, suites in entries:
        if SUITE in suites:
            return uri.rstrip("/")
    raise SystemExit(f"container-check: no apt source for Debian {SUITE} in /etc/apt")


def pip_build_args() -> tuple[dict[str, str], list[str]]:
    """This machine's pip index settings, as the Dockerfile's PIP_* build arguments, and
    the volumes they need: pip's `cert` (a CA bundle, e.g. of a TLS-inspecting proxy) is
    mounted into the build's RUN steps, not copied into the image. Local paths (file://
    indexes, find-links) do not exist inside the build: left out."""
    config = configparser.ConfigParser()
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"),
             Path.home() / ".config/pip/pip.conf", Path.home() / ".pip/pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    config.read([str(f) for f in files if f.is_file()])
    values = {}
    for name in PIP_SETTINGS:
        value = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        for section in ("install", "global"):
            if value is None and config.has_option(section, name):
                value = config.get(section, name)
        if value:
            if name.endswith("index-url"):
                value = " ".join(u for u in value.split() if u.startswith(("http:", "https:")))
            if value:
                values["PIP_" + name.upper().replace("-", "_")] = value
    volumes = []
    if "PIP_CERT" in values:
        volumes = [f"{Path(values['PIP_CERT']).resolve()}:{CERT_IN_BUILD}:ro"]
        values["PIP_CERT"] = CERT_IN_BUILD
    return values, volumes


def base_image(mirror: str) -> str:
    recipe = json.dumps([SUITE, "minbase", BASE_PACKAGES, mirror])
    tag = f"{BASE_REPO}:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"
    exists = subprocess.run(["podman", "image", "exists", tag], timeout=60)
    if exists.returncode == 0:
        say(f"base {tag}: cached")
        return tag
    say(f"base {tag}: debootstrap {SUITE} minbase + {' '.join(BASE_PACKAGES)} from {mirror}")
    with tempfile.TemporaryDirectory(prefix="billgraph-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             SUITE, str(rootfs), mirror], timeout=1800, capture=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale", "usr/share/info"):
            path = rootfs / junk
            if path.is_dir():
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        archive = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(archive), "."],
            timeout=600)
        run(["podman", "import", "--change", "CMD=[\"python3\"]", str(archive), tag],
            timeout=600, capture=True)
    return tag


def image_size(tag: str) -> int:
    out = run(["podman", "image", "inspect", "--format", "{{.Size}}", tag], timeout=60,
              capture=True).stdout
    return int(out.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: dict[str, Any] | None = None, key: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@contextmanager
def container(image: str) -> Iterator[str]:
    name = run(["buildah", "from", "--pull=never", image], timeout=120,
               capture=True).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], timeout=120, capture_output=True)


def _proc(pid: int, what: str) -> str:
    try:
        if what.startswith("ns/"):
            return os.readlink(f"/proc/{pid}/{what}")
        return Path(f"/proc/{pid}/{what}").read_text()
    except OSError:
        return ""


def inner_server(buildah: subprocess.Popen[str]) -> int | None:
    """The `billgraph serve` process buildah started in the container: buildah itself
    answers SIGINT by SIGKILLing its child, so Ctrl-C must go to the child directly."""
    parents = {int(p.name): int(_proc(int(p.name), "stat").rsplit(")", 1)[-1].split()[1])
               for p in Path("/proc").iterdir() if p.name.isdigit() and _proc(int(p.name), "stat")}
    for pid, parent in parents.items():
        chain = parent
        while chain > 1 and chain != buildah.pid:
            chain = parents.get(chain, 0)
        argv = _proc(pid, "cmdline").split("\0")  # python .../bin/billgraph serve
        if chain == buildah.pid and len(argv) > 2 and Path(argv[0]).name.startswith(
                "python") and argv[1].endswith("/billgraph") and argv[2] == "serve":
            return pid
    return None


def processes_in(namespace: str) -> list[int]:
    """The processes of one mount namespace (the container's, under chroot isolation:
    they are processes of this machine, and PostgreSQL's postmaster is re-parented)."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and _proc(int(p.name), "ns/mnt") == namespace]


def check_serving(name: str, deadline: float) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    namespace = ""
    log = tempfile.NamedTemporaryFile("w+", prefix="billgraph-serve-", suffix=".log")
    server = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", "--env", "BILLGRAPH_HOST=127.0.0.1",
         "--env", f"BILLGRAPH_PORT={port}", name, "--", "billgraph", "serve"],
        stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        key = wait_for_key(server, log, deadline)
        serve_pid = inner_server(server)
        assert serve_pid is not None, "no billgraph serve process under buildah run"
        namespace = _proc(serve_pid, "ns/mnt")
        assert namespace and namespace != _proc(os.getpid(), "ns/mnt"), namespace
        say(f"serve printed the default tenant's key {key[:12]}...; listening on {base}")
        wait_ready(base, server, log, deadline)
        status, body = http(f"{base}/healthz")
        assert status == 200, (status, body)
        say(f"/healthz {status} {body}")
        status, body = http(f"{base}/readyz")
        assert status == 200, (status, body)
        say(f"/readyz {status} {body}")
        graphql = f"{base}/graphql"
        status, body = http(graphql, {"query": "{ viewer { name } }"}, key)
        assert status == 200 and body == {"data": {"viewer": {"name": "default"}}}, body
        status, body = http(graphql, {"query": "mutation { createAccount(input: {name: "
                                               "\"Container check\"}) { id name } }"}, key)
        assert status == 200 and not body.get("errors"), body
        account = body["data"]["createAccount"]["id"]
        status, body = http(graphql, {"query": "query($id: ID!) { account(id: $id) { name } }",
                                      "variables": {"id": account}}, key)
        assert body == {"data": {"account": {"name": "Container check"}}}, body
        status, body = http(graphql, {"query": "{ viewer { name } }"}, "bgk_wrong")
        assert body.get("errors") and body["errors"][0]["extensions"]["code"] == \
            "UNAUTHENTICATED", body
        say("GraphQL with the printed key: viewer, createAccount, account; a wrong key is "
            "UNAUTHENTICATED")
        user = run(["buildah", "run", "--isolation", "chroot", name, "--", "id", "-un"],
                   timeout=60, capture=True).stdout.strip()
        assert user == "billgraph", user
        out = run(["buildah", "run", "--isolation", "chroot", name, "--", "billgraph",
                   "backup", "/tmp/check.dump"], timeout=120, capture=True).stdout
        assert "backed up database billgraph" in out, out
        say(f"as user {user}: {out.strip()}")
        stop(server, serve_pid)
        log.seek(0)
        assert "stopped embedded PostgreSQL" in log.read(), "serve left its PostgreSQL running"
        left = processes_in(namespace)
        assert not left, f"processes left in the container: {left}"
        say("serve stopped its embedded PostgreSQL; no process is left in the container")
    except BaseException:
        log.seek(0)
        print(log.read()[-5000:], file=sys.stderr)
        raise
    finally:
        stop(server, None)
        for pid in processes_in(namespace) if namespace else []:
            say(f"killing pid {pid} left in the container")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def wait_for_key(server: subprocess.Popen[str], log: Any, deadline: float) -> str:
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(r"^\s+(bgk_[A-Za-z0-9_-]+)\s*$", log.read(), re.MULTILINE)
        if found:
            return found.group(1)
        if server.poll() is not None:
            raise SystemExit(f"container-check: serve exited with {server.returncode}")
        time.sleep(0.5)
    raise SystemExit("container-check: serve printed no key in time")


def wait_ready(base: str, server: subprocess.Popen[str], log: Any, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if http(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"container-check: serve exited with {server.returncode}")
        time.sleep(0.5)
    raise SystemExit("container-check: /readyz not 200 in time")


def stop(server: subprocess.Popen[str], serve_pid: int | None) -> None:
    """Ctrl-C for `billgraph serve` (it stops its PostgreSQL); the whole of `buildah run`
    killed if it lingers (or when the serve process is unknown)."""
    if server.poll() is None:
        if serve_pid is not None:
            os.kill(serve_pid, signal.SIGINT)
        else:
            os.killpg(server.pid, signal.SIGKILL)
        try:
            server.wait(timeout=60)
            say(f"serve exited on SIGINT ({server.returncode})")
        except subprocess.TimeoutExpired:
            say("serve did not stop in 60 s: killing it")
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-image", action="store_true",
                        help=f"keep {IMAGE} (the base is always kept)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="give up after this many seconds (default 1800)")
    args = parser.parse_args()
    deadline = started + args.timeout
    if os.geteuid() != 0:
        raise SystemExit("container-check: run as root (apt, debootstrap, chroot isolation)")
    install_tools()
    base = base_image(debian_mirror())
    build_args, volumes = pip_build_args()
    say(f"podman build --isolation chroot on {base} (pip: "
        f"{', '.join(f'{k}={v}' for k, v in build_args.items()) or 'defaults'})")
    argv = ["podman", "build", "--isolation", "chroot", "--pull=never", "--layers=false",
            "--build-arg", f"BASE={base}", "-t", IMAGE, "-f", str(ROOT / "Dockerfile")]
    for name, value in build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    for volume in volumes:
        argv += ["--volume", volume]
    built = time.monotonic()
    run([*argv, str(ROOT)], timeout=max(60.0, deadline - time.monotonic()), capture=True)
    size, base_size = image_size(IMAGE), image_size(base)
    say(f"built {IMAGE} in {time.monotonic() - built:.0f} s: {size / 1e6:.0f} MB "
        f"(base {base_size / 1e6:.0f} MB + billgraph {(size - base_size) / 1e6:.0f} MB)")
    try:
        with container(IMAGE) as name:
            check_serving(name, deadline)
    finally:
        if not args.keep_image:
            subprocess.run(["podman", "rmi", "-f", IMAGE], timeout=120, capture_output=True)
    say(f"passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
