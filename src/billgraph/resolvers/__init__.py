"""Query, mutation and subscription resolvers: load, call a service, map the result."""
