"""A patient's privacy rights over what the assistant holds about them: their private link
(patient_links), what is remembered (patient_data), a copy of everything (export) and erasure
with its receipt (erasure); docs/PRIVACY.md."""
