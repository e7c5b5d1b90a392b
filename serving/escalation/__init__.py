"""The dentist in the loop (docs/ESCALATION.md): who is on call, notifying them when a
conversation is escalated, the private link a dentist opens it with, and the dentist's side of
the conversation until it is handed back to the assistant."""
