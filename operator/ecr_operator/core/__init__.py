"""What every kind builds on, knowing no kind: AWS clients and rate limits, errors and reasons, the API model and
status conditions, the CRD builder, the part protocol, the Kind a kind gives the runtime, settings, metrics."""
