"""Setting the clinic up without code: providers, their working hours, treatments, closures and
the public profile (service), the whole clinic as one YAML file (transfer), patients from a CSV
file (patients_import), and the profile the assistant reads (profile_source).

The CLI (`dental clinic ...`, `dental patients import`) and the staff dashboard call these
functions; their inputs and outputs are the pydantic models of `records`.
"""
