"""Operating the service: /healthz, /readyz and /metrics (they look at every layer, so they sit with the
entry points)."""
