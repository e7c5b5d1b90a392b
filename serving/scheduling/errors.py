"""Why the clinic's booking rules refuse a time.

Scheduling knows nothing of the practice boundary: each practice backend maps these to its
own errors (`serving.practice.errors`), keeping the message, which is one an operator or a
patient can act on.
"""

from __future__ import annotations


class BookingRefused(Exception):
    """The clinic's booking rules refuse the time; the message says why."""


class MalformedTime(BookingRefused):
    """The time has no time zone, or does not start on the clinic's booking step."""


class TooSoon(BookingRefused):
    """The time has passed or is closer than the clinic's minimum booking notice."""


class TooFarAhead(BookingRefused):
    """The time is beyond the clinic's booking horizon."""


class ClinicClosed(BookingRefused):
    """The clinic is closed then: Shabbat, a public holiday or a configured closure."""


class OutsideWorkingHours(BookingRefused):
    """The time falls outside the provider's working hours."""
