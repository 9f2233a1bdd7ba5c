"""GraphiQL in a real browser (Debian's headless chromium over CDP), from local assets.

A person opens /graphql, pastes the Authorization header into the Headers tab, runs a
query, reads the Docs pane, and runs a subscription that shows a metricsUpdated event:
its websocket must carry the header in connection_init, or the server refuses it.

The test installs what it needs when it can: chromium with apt-get (as root) and
GraphiQL's npm packages into a cache outside the repository
(BILLGRAPH_TEST_GRAPHIQL_CACHE, default ~/.cache/billgraph/graphiql).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billgraph import graphiql
from tests.api.partner_support import account
from tests.browser.cdp import Page, chromium
from tests.support import start_server

CHROMIUM = "/usr/bin/chromium"
RESPONSE = ("(() => { const e = document.querySelector('.graphiql-response .CodeMirror');"
            " return e ? e.CodeMirror.getValue() : ''; })()")
EDITOR = "document.querySelector({selector} + ' .CodeMirror').CodeMirror"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def ensure_chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            unavailable("chromium is missing: apt-get install -y chromium")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return CHROMIUM


def ensure_assets() -> Path:
    cache = Path(os.environ.get("BILLGRAPH_TEST_GRAPHIQL_CACHE",
                                Path.home() / ".cache" / "billgraph" / "graphiql"))
    if not graphiql.installed(cache / "node_modules") and shutil.which("npm") is None:
        unavailable("npm is missing: GraphiQL's assets cannot be installed")
    return graphiql.install(cache)


async def set_editor(page: Page, selector: str, text: str) -> None:
    """Focus a CodeMirror editor, select everything and type `text` over it (keyboard
    events, as a person would)."""
    editor = EDITOR.format(selector=json.dumps(selector))
    await page.click(f"{selector} .CodeMirror-lines")
    await page.evaluate(f"{editor}.focus()")
    await page.select_all()
    await page.type(text)
    assert await page.evaluate(f"{editor}.getValue()") == text


async def run(page: Page, text: str) -> None:
    await set_editor(page, ".graphiql-query-editor", text)
    await page.click(".graphiql-execute-button")


async def test_installed_assets_are_the_cdn_files() -> None:
    """The local files are byte for byte the CDN's (their SRI hashes match)."""
    import base64
    import hashlib

    modules = ensure_assets()
    for asset in graphiql.ASSETS:
        digest = hashlib.sha384((modules / asset.package / asset.path).read_bytes()).digest()
        assert f"sha384-{base64.b64encode(digest).decode()}" == asset.integrity, asset


async def test_graphiql_query_docs_and_subscription(database_url: str, tmp_path: Path) -> None:
    executable = ensure_chromium()
    modules = ensure_assets()
    async with start_server(database_url, graphiql_assets=modules) as server:
        async with server.new_tenant("browser") as client:
            account_id = await account(client, "Browser Reseller", partner=True)
            number = (await client.gql("query($id: ID!) { account(id: $id) { accountNumber } }",
                                       {"id": account_id}))["account"]["accountNumber"]
            async with chromium(executable) as page:
                try:
                    await exercise(page, server.url, client, account_id, number)
                except BaseException:
                    await page.screenshot(tmp_path / "graphiql-failure.png")
                    raise


async def exercise(page: Page, url: str, client: object, account_id: str, number: str) -> None:
    await page.goto(f"{url}/graphql")
    await page.wait_for("!!document.querySelector('.graphiql-execute-button')")
    assert page.requests and all(r.startswith((url, "data:")) for r in page.requests), \
        page.requests  # everything from this server: no CDN
    assert any("/graphiql/assets/graphiql/graphiql.min.js" in r for r in page.requests)

    # A subscription without a valid key: the websocket is refused.
    subscription = (f'subscription {{ metricsUpdated(accountId: "{account_id}") {{ account {{'
                    " accountNumber } metrics { balance stale lastMetricsUpdate } } }")
    await run(page, subscription)
    await page.wait_for(f"{RESPONSE}.includes('4403')")

    # The key, typed into the Headers tab.
    await page.click('button[data-name="headers"]')
    await set_editor(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
                     json.dumps({"Authorization": f"Bearer {client.key}"}))  # type: ignore[attr-defined]

    # A query and its result.
    await run(page, f'{{ account(id: "{account_id}") {{ accountNumber name partnerAccount }} }}')
    result = json.loads(await page.wait_for(f"(() => {{ const v = {RESPONSE};"
                                            " return v.includes('accountNumber') ? v : ''; })()"))
    assert result == {"data": {"account": {"accountNumber": number, "name": "Browser Reseller",
                                           "partnerAccount": True}}}

    # The Docs pane explains the schema (fetched again with the key).
    await page.click('button[aria-label="Re-fetch GraphQL schema"]')
    await page.click('button[aria-label="Show Documentation Explorer"]')
    await page.wait_for("!!document.querySelector('.graphiql-doc-explorer')"
                        " && document.querySelector('.graphiql-doc-explorer')"
                        ".innerText.includes('SubscriptionRoot')")
    await page.click(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name")  # Query
    await page.wait_for("!!document.querySelector('.graphiql-doc-explorer')"
                        ".innerText.includes(\"A page of the tenant's accounts\")")

    # The subscription, now with the key: a refreshMetrics shows up as an event.
    await run(page, subscription)
    for _ in range(100):
        await client.gql(  # type: ignore[attr-defined]
            "mutation($id: ID!) { refreshMetrics(accountId: $id) { stale } }", {"id": account_id})
        text = await page.evaluate(RESPONSE)
        if number in text:
            break
        await asyncio.sleep(0.3)
    event = json.loads(await page.evaluate(RESPONSE))
    update = event["data"]["metricsUpdated"]
    assert update["account"] == {"accountNumber": number}
    assert update["metrics"]["stale"] is False and update["metrics"]["balance"] == "0.00"
    await page.click(".graphiql-execute-button")  # stop
