"""The pages, one module an area, each with its own `routes`; `web.app` adds them all."""
