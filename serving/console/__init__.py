"""The staff console's services (`/api/v1/admin/...`): what the admin API does beyond parsing
and answering. Search and read conversations, take one over from the assistant and write to the
patient, hand it back, join an escalation, read what went wrong and how busy the assistant was;
find patients, keep a provider's calendar and book for a patient; manage staff accounts. The
routes (`serving.api.admin_*`) check who may and audit what was read or changed; this package
holds the rules.
"""
