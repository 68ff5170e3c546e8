"""The container images and compose.yaml's helpers (docs/containers.md)."""
