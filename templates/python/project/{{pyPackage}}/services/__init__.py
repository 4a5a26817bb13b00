"""Your domain services: one module per service of your proto (yours to edit),
plus registry.py, which create-hsu-unit rewrites on every regen."""
