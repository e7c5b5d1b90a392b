"""The clinic's staff: accounts and sign-in (accounts, passwords, sessions), what each role may
do (roles), and the audit trail of patient data read or changed by staff (audit)."""
