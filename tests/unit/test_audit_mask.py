"""The audit trail's masking: `masked_json` (which skips the walk when the JSON text holds
nothing a secret could be) always writes what `json.dumps(mask(...))` writes."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billgraph.services.audit import MASK, mask, masked_json, plain

NAMES = st.sampled_from(["input", "name", "secret", "signingSecret", "Password", "url",
                         "accessToken", "note", "x\u00e9", "credentials", "records"])
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["bgk_abcdefghijkl", "leak whsec_c2VjcmV0c2VjcmV0", "\nbgk_12345678",
                     "bgk_short", "tok", "TOKEN", "é bgk_AAAAAAAAAAAA", "secret"]))
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), TEXT,
                   st.decimals(allow_nan=False, allow_infinity=False, places=2))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=4)), max_leaves=20)


@given(st.dictionaries(NAMES, VALUES, max_size=4))
def test_masked_json_is_dumps_of_mask(variables: dict[str, object]) -> None:
    assert masked_json(variables) == json.dumps(mask(variables), default=plain)


def test_masked_json_masks_by_name_and_by_shape() -> None:
    written = json.loads(masked_json({"input": {"secret": "s", "name": "a bgk_abcdefghij"},
                                      "quantity": Decimal("1.50")}))
    assert written == {"input": {"secret": MASK, "name": f"a {MASK}"}, "quantity": "1.50"}
    plain_records = {"records": [{"recordId": f"r{n}", "quantity": Decimal(1)}
                                 for n in range(3)]}
    assert json.loads(masked_json(plain_records)) == {
        "records": [{"recordId": f"r{n}", "quantity": "1"} for n in range(3)]}
