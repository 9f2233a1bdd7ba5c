"""The GraphiQL page: from the CDN by default, from local npm assets when installed."""

from __future__ import annotations

from pathlib import Path

from billgraph import graphiql
from tests.support import start_server

HTML = {"Accept": "text/html"}


def fake_node_modules(root: Path) -> Path:
    modules = root / "node_modules"
    for asset in graphiql.ASSETS:
        path = modules / asset.package / asset.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {asset.package} {asset.path} */")
        (modules / asset.package / "package.json").write_text(
            f'{{"name": "{asset.package}", "version": "{asset.version}"}}')
    return modules


async def test_cdn_page_by_default(database_url: str, tmp_path: Path) -> None:
    async with start_server(database_url, data_dir=tmp_path) as server:
        page = await server.http.get("/graphql", headers=HTML)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        for asset in graphiql.ASSETS:
            assert asset.cdn_url in page.text
            assert asset.integrity in page.text
        assert "/graphiql/assets/" not in page.text
        assert "graphqlWs.createClient" in page.text  # our subscription fetcher
        assert (await server.http.get("/graphiql/assets/react/umd/react.production.min.js")
                ).status_code == 404


async def test_local_assets_when_installed(database_url: str, tmp_path: Path) -> None:
    modules = fake_node_modules(tmp_path / "graphiql")
    async with start_server(database_url, data_dir=tmp_path) as server:  # the default place
        page = await server.http.get("/graphql", headers=HTML)
        assert "unpkg.com" not in page.text
        for asset in graphiql.ASSETS:
            assert f'"{asset.local_url}"' in page.text
            served = await server.http.get(asset.local_url)
            assert served.status_code == 200
            assert served.text == (modules / asset.package / asset.path).read_text()
        # the page needs no key; GraphQL requests do
        assert (await server.http.post("/graphql", json={"query": "{ viewer { name } }"})
                ).status_code == 401


async def test_configured_directory_without_assets_falls_back_to_the_cdn(
    database_url: str, tmp_path: Path
) -> None:
    async with start_server(database_url, data_dir=tmp_path,
                            graphiql_assets=tmp_path / "missing") as server:
        page = await server.http.get("/graphql", headers=HTML)
        assert graphiql.ASSETS[0].cdn_url in page.text


async def test_no_page_when_graphiql_is_off(database_url: str, tmp_path: Path) -> None:
    fake_node_modules(tmp_path / "graphiql")
    async with start_server(database_url, data_dir=tmp_path, graphiql=False) as server:
        page = await server.http.get("/graphql", headers=HTML)
        assert "GraphiQL" not in page.text
        assert (await server.http.get("/graphiql/assets/react/umd/react.production.min.js")
                ).status_code == 404


def test_install_script_uses_the_module(tmp_path: Path) -> None:
    script = Path(__file__).parents[1] / "scripts" / "install-graphiql-assets"
    text = script.read_text()
    assert "billgraph.graphiql install" in text
    assert script.stat().st_mode & 0o111


def test_packages_match_the_assets() -> None:
    assert graphiql.packages() == ["@graphiql/plugin-explorer@1.0.2", "graphiql@3.8.3",
                                   "graphql-ws@5.16.2", "react-dom@18.2.0", "react@18.2.0"]
