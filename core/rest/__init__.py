"""The REST API: routes with declared permissions, generic resources, errors and OpenAPI."""
