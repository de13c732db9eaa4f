"""The Redis edge: intake (stream consumer, pub/sub subscriber), results, control stream."""
