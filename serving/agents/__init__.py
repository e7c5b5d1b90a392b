"""The assistant's agents (Alex, the team) and the models they run on (offline, OpenAI)."""
