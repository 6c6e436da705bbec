"""The CrossGuard policy pack `aurigraph` (one module per theme; docs/policies.md gives each rule's reason)."""
