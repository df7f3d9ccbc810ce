"""The rule library: one module per family of checks (see README, "Checks")."""
