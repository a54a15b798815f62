"""The demo network: tenants, partners, principals, directory, records and sharing agreements
that the README, the tests and the benchmarks use (`sharegraph demo seed`)."""

from sharegraph.demo.network import (
    DEMO_PRINCIPALS,
    TENANTS,
    SeedResult,
    demo_id,
    demo_principal_keys,
    seed,
)

__all__ = ["DEMO_PRINCIPALS", "TENANTS", "SeedResult", "demo_id", "demo_principal_keys", "seed"]
