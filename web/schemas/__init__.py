"""The API's bodies as pydantic models: one definition each, from which web/openapi.py generates
`components.schemas` and through which the handlers produce their JSON (web/schemas/base.py `respond`)."""
