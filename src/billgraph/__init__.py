"""billgraph: multi-tenant subscription billing with a GraphQL API, built for partner accounts."""

__version__ = "0.1.0"
