"""billgraph: multi-tenant subscription billing with a GraphQL API, built for partner accounts."""

import decimal

__version__ = "0.1.0"

# Money is exact (SPEC §3). Python's default decimal context rounds every result to 28
# significant digits, so an amount near the API's limit (|exponent| <= 30), or such a
# quantity times a price, silently lost its cents (found by fuzzing). Every decimal
# context of the process gets enough digits for any product of two in-range values.
MONEY_PRECISION = 150
decimal.DefaultContext.prec = MONEY_PRECISION
decimal.getcontext().prec = MONEY_PRECISION
