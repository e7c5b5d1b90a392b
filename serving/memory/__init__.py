"""What the assistant remembers across conversations: a graph of patients, conversations,
messages, the patterns they matched and the outcomes they led to (docs/MEMORY.md)."""
