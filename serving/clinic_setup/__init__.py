"""Setting the clinic up without code: providers, their working hours, treatments, closures,
the public profile and the whole clinic as one file (service), weekly hours as operators write
them (weekly), patients from a CSV file (patients_import), and the profile the assistant reads
(profile_source).

The CLI (`dental clinic ...`, `dental patients import`) and the staff dashboard call these
functions; their inputs and outputs are the pydantic models of `records`.
"""
