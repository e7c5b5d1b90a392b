"""HTTP routers. They stay thin: parse, call a function from the service packages, return a
schema, so Telegram handlers, the CLI and HTTP routes share one implementation."""
