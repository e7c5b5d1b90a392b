"""The clinic staff's operations (the staff console, `/api/v1/admin/...`): search and read
conversations, take one over from the assistant and write to the patient, hand it back, join an
escalation, read what went wrong and how busy the assistant was; find a patient, see a
provider's calendar, book, move or cancel for a patient, read the clinical record; manage staff
accounts. The routes (`serving.api.admin_*`) check who may and audit what was read or changed;
this package holds the rules.
"""
