"""The embedded local stack: a real Kafka broker (KRaft) and a DynamoDB-compatible server, no Docker."""

from weir.devstack.stack import ServiceStatus, stack_down, stack_status, stack_up

__all__ = ["ServiceStatus", "stack_down", "stack_status", "stack_up"]
