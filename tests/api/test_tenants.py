"""viewer and tenant settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Client

UPDATE = """mutation($input: TenantSettingsInput!) { updateTenantSettings(input: $input) {
  name settings { metricsRefreshIntervalSeconds defaultCurrency
  customPeriods { name unit count } } } }"""


async def test_viewer_defaults(client: Client) -> None:
    viewer = (await client.gql("{ viewer { id name settings { metricsRefreshIntervalSeconds "
                               "defaultCurrency customPeriods { name } } } }"))["viewer"]
    assert viewer["id"] == client.tenant_id
    assert viewer["settings"] == {"metricsRefreshIntervalSeconds": 3600,
                                  "defaultCurrency": "USD", "customPeriods": []}


async def test_update_settings(client: Client) -> None:
    settings = (await client.gql(UPDATE, {"input": {
        "metricsRefreshIntervalSeconds": 60, "defaultCurrency": "EUR",
        "customPeriods": [{"name": "CUSTOM2", "unit": "WEEK", "count": 2},
                          {"name": "CUSTOM1", "unit": "MONTH", "count": 2}]}}))
    assert settings["updateTenantSettings"]["settings"] == {
        "metricsRefreshIntervalSeconds": 60, "defaultCurrency": "EUR",
        "customPeriods": [{"name": "CUSTOM1", "unit": "MONTH", "count": 2},
                          {"name": "CUSTOM2", "unit": "WEEK", "count": 2}]}
    account = await client.gql('mutation { createAccount(input: {name: "E"}) { currency } }')
    assert account["createAccount"]["currency"] == "EUR"


@pytest.mark.parametrize(("input", "field"), [
    ({"metricsRefreshIntervalSeconds": 0}, "metricsRefreshIntervalSeconds"),
    ({"defaultCurrency": "XX"}, "defaultCurrency"),
    ({"customPeriods": [{"name": "CUSTOM9", "unit": "DAY", "count": 1}]}, "customPeriods[0].name"),
    ({"customPeriods": [{"name": "CUSTOM1", "unit": "YEAR", "count": 1}]}, "customPeriods[0].unit"),
    ({"customPeriods": [{"name": "CUSTOM1", "unit": "DAY", "count": 0}]}, "customPeriods[0].count"),
    ({"customPeriods": [{"name": "CUSTOM1", "unit": "DAY", "count": 1},
                        {"name": "CUSTOM1", "unit": "DAY", "count": 2}]}, "customPeriods[1].name"),
])
async def test_settings_validation(client: Client, input: dict[str, Any], field: str) -> None:
    error = await client.error(UPDATE, {"input": input})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
