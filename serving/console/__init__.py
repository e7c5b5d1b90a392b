"""The clinic staff's operations over conversations, escalations and figures (the staff
console, `/api/v1/admin/...`): search and read conversations, take one over from the assistant
and write to the patient, hand it back, join an escalation, and read what went wrong and how
busy the assistant was. The routes (`serving.api.admin_*`) check who may and audit what was
read or changed; this package holds the rules.
"""
