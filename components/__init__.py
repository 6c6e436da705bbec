"""Reusable Pulumi components of the Aurigraph infrastructure. Each module holds one component; none reads
stack config (they take typed args), so tests can build them with any values."""
