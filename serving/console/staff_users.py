"""Staff accounts managed from the console: each change recorded in the audit trail, and a
password the clinic did not choose generated and shown once."""

from __future__ import annotations

from dataclasses import dataclass

from serving.staff.accounts import AccountError, AccountExists, StaffAccount, StaffAccounts
from serving.staff.audit import AuditContext, AuditLog
from serving.staff.passwords import generate_password


class UnknownAccount(LookupError):
    """No staff account has that id."""


class AccountConflict(AccountError):
    """The change contradicts the accounts as they are (the e-mail is taken; an admin
    disabling their own account)."""


@dataclass(frozen=True)
class AccountWithPassword:
    account: StaffAccount
    password: str | None
    """The generated password, shown once; None when the caller gave one."""


class StaffUsers:
    def __init__(self, *, accounts: StaffAccounts, audit: AuditLog) -> None:
        self._accounts = accounts
        self._audit = audit

    async def list(self) -> list[StaffAccount]:
        return await self._accounts.list()

    async def create(
        self, context: AuditContext, *, email: str, name: str, role: str, password: str | None
    ) -> AccountWithPassword:
        """AccountConflict when the e-mail has an account; AccountError for a bad value."""
        chosen = password if password is not None else generate_password()
        try:
            account = await self._accounts.create(
                email=email, name=name, role=role, password=chosen
            )
        except AccountExists as exists:
            raise AccountConflict(str(exists)) from None
        await self._audit.record(
            context, "user.create", subject=f"user:{account.id}", detail={"role": account.role}
        )
        return AccountWithPassword(account, None if password is not None else chosen)

    async def disable(self, context: AuditContext, user_id: int) -> StaffAccount:
        """Disable the account and end its sessions; nobody disables their own account."""
        account = await self._account(user_id)
        if account.id == context.principal.user_id:
            raise AccountConflict("you cannot disable your own account")
        disabled = await self._accounts.disable(account.email)
        await self._audit.record(context, "user.disable", subject=f"user:{account.id}")
        return disabled

    async def reset(
        self, context: AuditContext, user_id: int, password: str | None
    ) -> AccountWithPassword:
        """A new password (generated when none is given); the account's sessions end."""
        account = await self._account(user_id)
        chosen = password if password is not None else generate_password()
        reset = await self._accounts.reset_password(account.email, chosen)
        await self._audit.record(context, "user.reset", subject=f"user:{account.id}")
        return AccountWithPassword(reset, None if password is not None else chosen)

    async def _account(self, user_id: int) -> StaffAccount:
        account = await self._accounts.get(user_id)
        if account is None:
            raise UnknownAccount(f"no staff account {user_id}")
        return account
