"""The GraphiQL page, from a CDN (default) or from local assets installed with npm.

Strawberry's GraphiQL page loads React and GraphiQL from unpkg, which a machine
without internet cannot reach. `scripts/install-graphiql-assets` (or
`python -m billgraph.graphiql install DIR`) installs the same files from the npm
registry; when they are there (BILLGRAPH_GRAPHIQL_ASSETS, default
`<data dir>/graphiql/node_modules`) the page loads them from /graphiql/assets/.

Both pages use one template with a fetcher of our own for subscriptions: the
websocket's connection_init payload carries the headers typed in GraphiQL's
Headers tab, which is how billgraph authenticates a websocket.

    python -m billgraph.graphiql install [DIR]   install the assets into DIR/node_modules
    python -m billgraph.graphiql packages        the npm packages, one a line
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MOUNT = "/graphiql/assets"
CDN = "https://unpkg.com"


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    path: str
    integrity: str  # SRI of the file, the same from the CDN and from npm

    @property
    def cdn_url(self) -> str:
        return f"{CDN}/{self.package}@{self.version}/{self.path}"

    @property
    def local_url(self) -> str:
        return f"{MOUNT}/{self.package}/{self.path}"

    @property
    def stylesheet(self) -> bool:
        return self.path.endswith(".css")


# The versions of Strawberry's own GraphiQL page (strawberry/static/graphiql.html), plus
# graphql-ws for subscriptions. js-cookie (CSRF cookies) is left out: billgraph uses keys.
HEAD = (
    Asset("react", "18.2.0", "umd/react.production.min.js",
          "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"),
    Asset("react-dom", "18.2.0", "umd/react-dom.production.min.js",
          "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"),
    Asset("graphiql", "3.8.3", "graphiql.min.css",
          "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM"),
    Asset("@graphiql/plugin-explorer", "1.0.2", "dist/style.css",
          "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi"),
)
BODY = (
    Asset("graphiql", "3.8.3", "graphiql.min.js",
          "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"),
    Asset("@graphiql/plugin-explorer", "1.0.2", "dist/index.umd.js",
          "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9"),
    Asset("graphql-ws", "5.16.2", "umd/graphql-ws.min.js",
          "sha384-+EVxFEOpy8LWPRQcpntm0FKN2O+BzrMNSL0G3HIgVWFmeb6xqZqjuLivrQUTXZKi"),
)
ASSETS = HEAD + BODY


def packages() -> list[str]:
    """`name@version` of every npm package the page needs."""
    return sorted({f"{a.package}@{a.version}" for a in ASSETS})


def _tag(asset: Asset, local: bool) -> str:
    if local:
        url, attributes = asset.local_url, ""
    else:
        url = asset.cdn_url
        attributes = f' integrity="{asset.integrity}" crossorigin="anonymous"'
    url = html.escape(url)
    if asset.stylesheet:
        return f'<link rel="stylesheet" href="{url}"{attributes} />'
    return f'<script src="{url}"{attributes}></script>'


def render(local: bool) -> str:
    """The page, loading its assets from /graphiql/assets (local) or the CDN."""
    template = resources.files("billgraph").joinpath("static/graphiql.html").read_text("utf-8")
    indent = "\n    "
    return (template
            .replace("<!--HEAD_ASSETS-->", indent.join(_tag(a, local) for a in HEAD))
            .replace("<!--BODY_ASSETS-->", indent.join(_tag(a, local) for a in BODY)))


def installed(directory: Path) -> bool:
    """Whether every asset file is in `directory` (a node_modules directory)."""
    return all((directory / a.package / a.path).is_file() for a in ASSETS)


def local_assets(configured: Path | None, data_dir: Path) -> Path | None:
    """The node_modules directory to serve, or None for the CDN page."""
    directory = configured or data_dir / "graphiql" / "node_modules"
    if installed(directory):
        _check_versions(directory)
        return directory
    if configured is not None:
        log.warning("BILLGRAPH_GRAPHIQL_ASSETS=%s lacks GraphiQL's files (run "
                    "scripts/install-graphiql-assets); GraphiQL loads them from %s",
                    configured, CDN)
    return None


def _check_versions(directory: Path) -> None:
    for asset in ASSETS:
        try:
            found = json.loads((directory / asset.package / "package.json").read_text())
        except (OSError, ValueError):
            continue
        if found.get("version") != asset.version:
            log.warning("GraphiQL assets: %s is %s, the page was written for %s", asset.package,
                        found.get("version"), asset.version)


def routes(directory: Path | None) -> list[Any]:
    """/graphiql/assets/* from `directory`, when there is one."""
    if directory is None:
        return []
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    return [Mount(MOUNT, app=StaticFiles(directory=directory), name="graphiql-assets")]


def install(prefix: Path) -> Path:
    """npm install the assets into prefix/node_modules (skipped when already there)."""
    modules = prefix / "node_modules"
    if installed(modules):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install GraphiQL's assets (Node.js 18 or newer)")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                    "--legacy-peer-deps", "--loglevel=error", *packages()], check=True)
    if not installed(modules):
        raise RuntimeError(f"npm install finished but {modules} lacks GraphiQL's files")
    return modules


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["packages"]:
        print("\n".join(packages()))
        return 0
    if args[:1] == ["install"] and len(args) <= 2:
        modules = install(Path(args[1] if len(args) > 1 else ".billgraph/graphiql"))
        print(modules)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
