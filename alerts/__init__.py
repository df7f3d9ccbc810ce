"""Warning tiers, letters, routing, channels and the delivery outbox."""
