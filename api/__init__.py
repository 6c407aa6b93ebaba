"""Software-facing web fronts: the officers' JSON API (v1) and the public Open311 GeoReport v2 service."""
