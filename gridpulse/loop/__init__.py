"""The case loop: working calendars and SLA clocks."""
