"""The billing domain: plain async functions over a database connection, no GraphQL."""
