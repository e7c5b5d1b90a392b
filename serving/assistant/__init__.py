"""The assistant: one patient message in, one safe reply out (see `Assistant.respond`)."""
