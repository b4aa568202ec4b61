"""Human handoff: state machine, queues, assignment, the agent workbench and 12345 work orders."""
